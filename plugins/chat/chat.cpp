// A chat room: one service is one room. `dialect: line` speaks to people on
// nc/telnet and to bots; `dialect: seed` is wire-compatible with the classic
// Python tutorial chat client (raw "NICK" handshake, relayed bytes).
#include <plughost/plugin.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

namespace {

using plughost::Session;

// Removes control characters (C0 but tab, DEL, C1) and replaces ill-formed UTF-8
// with U+FFFD: what Unicode's table 3-7 rejects (overlong forms, surrogates,
// beyond U+10FFFF, stray or truncated sequences), one U+FFFD per maximal subpart.
std::string cleanText(std::string_view in) {
    const auto at = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const unsigned lead = at(i);
        const bool stray = lead >= 0x80 && (lead < 0xC2 || lead > 0xF4);  // can never start a character
        // Continuation bytes the lead needs, and the range allowed for the first of them.
        const std::size_t need = lead < 0xC2 || stray ? 0 : lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
        const unsigned low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
        const unsigned high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        std::size_t k = 1;  // the well-formed part so far
        while (k <= need && i + k < in.size() && at(i + k) >= (k == 1 ? low : 0x80u) &&
               at(i + k) <= (k == 1 ? high : 0xBFu)) {
            ++k;
        }
        if (stray || k <= need) {
            out += "\xEF\xBF\xBD";
        } else if ((lead >= 0x20 && lead != 0x7f && (lead != 0xC2 || at(i + 1) >= 0xA0)) || lead == '\t') {
            out.append(in.substr(i, k));  // C0, DEL and C1 go: some terminals honour U+009B as an escape
        }
        i += k;
    }
    return out;
}

// Nicknames are ASCII, spelled out: no locale may widen what counts as a letter.
constexpr char kNickChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    return text;
}

std::string trimmed(std::string_view text) {
    const auto begin = text.find_first_not_of(" \t\r\n");
    const auto end = text.find_last_not_of(" \t\r\n");
    return begin == std::string_view::npos ? "" : std::string(text.substr(begin, end - begin + 1));
}

struct Member {
    std::shared_ptr<Session> session;
    std::string nick;  // empty until joined
};

class Chat : public plughost::Service {
public:
    explicit Chat(plughost::ServiceContext& context)
        : seed_(context.settings().getChoice("dialect", "line", {"line", "seed"}) == "seed"),
          historySize_(static_cast<std::size_t>(context.settings().getInt("history", 0, 0, 10000))),
          maxUsers_(static_cast<std::size_t>(context.settings().getInt("max_users", 0, 0, 10'000'000))) {
        std::istringstream motd(context.settings().getString("motd", ""));
        for (std::string line; std::getline(motd, line);) {
            greeting_ += "* " + line + "\n";
        }
        greeting_ += "* Choose a nickname (1-24 letters, digits, _ - .):\n";
    }

    plughost::Framing framing() const override {
        return seed_ ? plughost::Framing::Raw : plughost::Framing::Lines;
    }

    // "Full" counts connections, joined or still choosing a nickname: max_users
    // bounds what the room holds, and a newcomer learns it before picking a name.
    void onOpen(Session& session) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (maxUsers_ > 0 && members_.size() >= maxUsers_) {
            session.send("! room is full\n");
            session.close();
            return;
        }
        members_[session.id()] = Member{session.shared_from_this(), ""};
        // Alone in seed: the tutorial client compares each recv() to exactly "NICK".
        session.send(seed_ ? std::string_view("NICK") : std::string_view(greeting_));
    }

    void onData(Session& session, std::string_view data) override {
        const std::string text =
            seed_ ? std::string() : cleanText(data);  // before the lock: others wait less
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = members_.find(session.id());
        if (found == members_.end()) {
            return;  // refused as full, or gone with /quit
        }
        Member& member = found->second;
        if (seed_) {
            seedData(member, data);
        } else if (member.nick.empty()) {
            join(member, trimmed(data));  // not cleaned: a control byte is a bad character, not dropped
        } else if (!text.empty() && text.front() == '/') {
            command(member, text);
        } else if (!text.empty()) {
            say(member, member.nick + ": " + text);
        }
    }

    void onLineTooLong(Session& session, std::size_t max) override {
        session.send("! line too long (max " + std::to_string(max) + " bytes)\n");
    }

    void onClose(Session& session, plughost::CloseReason reason) override {
        std::lock_guard<std::mutex> lock(mutex_);
        leave(session.id(), plughost::describe(reason));
    }

    void onStopping() override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!seed_) {  // a tutorial client would print it glued to other bytes
            broadcast("* server shutting down\n", nullptr);
        }
    }

private:
    // Everything below runs under mutex_. Each outgoing line is built once and
    // the same bytes go to every recipient; send() copies and never blocks.
    void broadcast(std::string_view bytes, const Session* except) {
        for (auto& entry : members_) {
            if (!entry.second.nick.empty() && entry.second.session.get() != except) {
                entry.second.session->send(bytes);
            }
        }
    }

    // A line for everyone but its sender, remembered for newcomers.
    void say(const Member& from, const std::string& line) {
        std::string bytes = line + "\n";
        broadcast(bytes, from.session.get());
        history_.push_back(std::move(bytes));
        if (history_.size() > historySize_) {
            history_.pop_front();
        }
    }

    // Removes a member; if it had joined, the others learn why it left.
    void leave(std::uint64_t id, const std::string& why) {
        const auto found = members_.find(id);
        if (found == members_.end()) {
            return;
        }
        const std::string nick = std::move(found->second.nick);
        members_.erase(found);
        if (!nick.empty() && seed_) {
            broadcast(nick + " left!", nullptr);
        } else if (!nick.empty()) {
            nicks_.erase(lower(nick));
            broadcast("* " + nick + " left (" + why + ")\n", nullptr);
        }
    }

    // "a, b, c": the joined members, in name order.
    std::string names() const {
        std::string list;
        for (const auto& entry : nicks_) {
            list += (list.empty() ? "" : ", ") + members_.at(entry.second).nick;
        }
        return list;
    }

    // Why `asker` cannot take `nick`, or "". A member may change the case of its own.
    std::string unusable(const std::string& nick, const Member& asker) const {
        const auto taken = nicks_.find(lower(nick));
        return nick.empty()       ? "a nickname cannot be empty"
               : nick.size() > 24 ? "a nickname has at most 24 characters"
               : nick.find_first_not_of(kNickChars) != std::string::npos
                   ? "a nickname has only ASCII letters, digits, '_', '-' and '.'"
               : taken != nicks_.end() && taken->second != asker.session->id()
                   ? "the nickname " + nick + " is taken"
                   : "";
    }

    // Takes `nick` (checked) for `member`; returns the old one.
    std::string rename(Member& member, const std::string& nick) {
        nicks_.erase(lower(member.nick));
        nicks_[lower(nick)] = member.session->id();
        return std::exchange(member.nick, nick);
    }

    void join(Member& member, const std::string& nick) {
        if (const std::string problem = unusable(nick, member); !problem.empty()) {
            member.session->send("! " + problem + "\n* Choose a nickname:\n");
            return;
        }
        const std::string others = names();  // before the newcomer is listed
        rename(member, nick);
        std::string welcome =
            "* Welcome, " + nick + "! " + (others.empty() ? "Nobody else is here" : "Here: " + others);
        welcome += ". Type /help for commands.\n";
        for (const auto& line : history_) {
            welcome += line;
        }
        member.session->send(welcome);
        broadcast("* " + nick + " joined\n", member.session.get());
    }

    void command(Member& member, const std::string& line) {
        const auto space = line.find(' ');
        const std::string name = line.substr(0, space);
        const std::string rest = space == std::string::npos ? "" : trimmed(line.substr(space + 1));
        Session& session = *member.session;  // the host's: alive for this callback, even after leave()
        if (name == "/who") {
            session.send("* " + std::to_string(nicks_.size()) + " here: " + names() + "\n");
        } else if (name == "/nick") {
            const std::string problem = rest.empty() ? "usage: /nick NEWNAME" : unusable(rest, member);
            if (problem.empty()) {
                broadcast("* " + rename(member, rest) + " is now " + rest + "\n", nullptr);
            } else {
                session.send("! " + problem + "\n");
            }
        } else if (name == "/me" && rest.empty()) {
            session.send("! usage: /me ACTION\n");
        } else if (name == "/me") {
            say(member, "* " + member.nick + " " + rest);
        } else if (name == "/msg") {
            const auto gap = rest.find(' ');
            const std::string text = gap == std::string::npos ? "" : trimmed(rest.substr(gap + 1));
            const auto to = nicks_.find(lower(rest.substr(0, gap)));
            if (text.empty()) {
                session.send("! usage: /msg NICK TEXT\n");
            } else if (to == nicks_.end()) {
                session.send("! no such nickname: " + rest.substr(0, gap) + "\n");
            } else {
                const Member& recipient = members_.at(to->second);
                recipient.session->send("[" + member.nick + "] " + text + "\n");
                session.send("* to " + recipient.nick + ": " + text + "\n");
            }
        } else if (name == "/quit") {
            // Leave now rather than in onClose: the reason is ours, and nothing
            // the client pipelined after /quit can be relayed any more.
            session.send("* Bye.\n");
            leave(session.id(), rest.empty() ? "quit" : "quit: " + rest);
            session.close();
        } else if (name == "/help") {
            session.send(
                "* /who: who is here\n* /nick NEWNAME: change your nickname\n* /me ACTION: say what you do\n"
                "* /msg NICK TEXT: a private message\n* /quit [REASON]: leave\n");
        } else {
            session.send("! unknown command " + name + " (try /help)\n");
        }
    }

    void seedData(Member& member, std::string_view data) {
        if (!member.nick.empty()) {
            broadcast(data, nullptr);  // relayed unchanged, to the sender too, as the tutorial server does
            return;
        }
        // The tutorial lets two clients share a name; so do we. Cut, then cleaned: still valid UTF-8.
        member.nick = trimmed(cleanText(data.substr(0, 64)));
        if (member.nick.empty()) {
            member.session->send("NICK");
            return;
        }
        broadcast(member.nick + " joined!", nullptr);
        member.session->send("Connected to server!");
    }

    const bool seed_;
    std::string greeting_;  // the motd and the nickname prompt, built once
    const std::size_t historySize_;
    const std::size_t maxUsers_;
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, Member> members_;  // every connection, joined or not
    std::map<std::string, std::uint64_t> nicks_;  // line dialect: lower-case nick -> member, sorted for /who
    std::deque<std::string> history_;             // whole lines with their "\n"
};

}  // namespace

PLUGHOST_PLUGIN(Chat, "chat", "1.0.0",
                "a chat room with nicknames and commands; speaks the Python tutorial protocol too")
