// A chat room: one service is one room. `dialect: line` speaks to people on
// nc/telnet and to bots; `dialect: seed` is wire-compatible with the classic
// Python tutorial chat client (raw "NICK" handshake, relayed bytes).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>

#include <plughost/plugin.h>

namespace {

using plughost::CloseReason;
using plughost::Session;

constexpr std::size_t kMaxNick = 24;
// Removes control characters (C0 but tab, DEL, C1) and replaces invalid UTF-8
// (overlong forms, surrogates, beyond U+10FFFF, truncated sequences) with U+FFFD.
std::string cleanText(std::string_view in) {
    static const char kReplacement[] = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const auto byte = static_cast<unsigned char>(in[i]);
        if (byte < 0x80) {
            if ((byte >= 0x20 && byte != 0x7f) || byte == '\t') {
                out += static_cast<char>(byte);
            }
            ++i;
            continue;
        }
        const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 0;
        std::uint32_t code = length == 4 ? byte & 0x07u : length == 3 ? byte & 0x0Fu : byte & 0x1Fu;
        bool valid = length > 0 && i + length <= in.size();
        for (std::size_t k = 1; valid && k < length; ++k) {
            const auto next = static_cast<unsigned char>(in[i + k]);
            valid = (next & 0xC0) == 0x80;
            code = (code << 6) | (next & 0x3Fu);
        }
        static const std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
        valid = valid && code >= kSmallest[length] && code <= 0x10FFFF && !(code >= 0xD800 && code <= 0xDFFF);
        if (!valid) {
            out += kReplacement;
            ++i;  // resynchronise on the next byte
        } else {
            if (code > 0x9F) {  // C1 controls (U+0080-U+009F) go: some terminals honour U+009B as an escape
                out.append(in.substr(i, length));
            }
            i += length;
        }
    }
    return out;
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// Why a nickname cannot be used, or "" if it can (uniqueness is checked by the room).
std::string nickProblem(const std::string& nick) {
    const bool allowed = std::all_of(nick.begin(), nick.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    return nick.empty()              ? "a nickname cannot be empty"
           : nick.size() > kMaxNick  ? "a nickname has at most " + std::to_string(kMaxNick) + " characters"
           : !allowed                ? "a nickname has only ASCII letters, digits, '_', '-' and '.'"
                                     : "";
}

std::string trimmed(std::string_view text) {
    const auto begin = text.find_first_not_of(" \t\r\n");
    const auto end = text.find_last_not_of(" \t\r\n");
    return begin == std::string_view::npos ? "" : std::string(text.substr(begin, end - begin + 1));
}

struct Member {
    std::shared_ptr<Session> session;
    std::string nick;  // empty until joined
    std::string quitReason;
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

    plughost::Framing framing() const override { return seed_ ? plughost::Framing::Raw : plughost::Framing::Lines; }

    // "Full" counts connections, joined or still choosing a nickname: max_users bounds what the room holds.
    void onOpen(Session& session) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (maxUsers_ > 0 && members_.size() >= maxUsers_) {
            session.send("! room is full\n");
            session.close();
            return;
        }
        members_[session.id()] = Member{session.shared_from_this(), "", ""};
        if (seed_) {
            session.send("NICK");  // alone: the tutorial client compares each recv() to exactly this
            return;
        }
        session.send(greeting_);
    }

    void onData(Session& session, std::string_view data) override {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = members_.find(session.id());
        if (found == members_.end()) {
            return;  // refused as full
        }
        Member& member = found->second;
        if (seed_) {
            seedData(member, data);
        } else if (member.nick.empty()) {
            join(member, trimmed(cleanText(data)));
        } else if (!data.empty() && data.front() == '/') {
            command(member, cleanText(data));
        } else {
            const std::string text = cleanText(data);
            if (!text.empty()) {
                say(member, member.nick + ": " + text);
            }
        }
    }

    void onLineTooLong(Session& session, std::size_t max) override {
        session.send("! line too long (max " + std::to_string(max) + " bytes)\n");
    }

    void onClose(Session& session, CloseReason reason) override {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = members_.find(session.id());
        if (found == members_.end()) {
            return;
        }
        const Member member = found->second;
        members_.erase(found);
        if (!member.nick.empty() && seed_) {
            broadcast(member.nick + " left!", nullptr);
        } else if (!member.nick.empty()) {
            nicks_.erase(lower(member.nick));
            const bool quit = reason == CloseReason::Closed && !member.quitReason.empty();
            broadcast("* " + member.nick + " left (" + (quit ? member.quitReason : plughost::describe(reason)) + ")\n", nullptr);
        }
    }

    void onStopping() override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!seed_) {
            for (auto& entry : members_) {
                entry.second.session->send("* server shutting down\n");
            }
        }
    }

private:
    // Everything below runs under mutex_.
    // A line for everyone but its sender, remembered for newcomers.
    void say(const Member& from, const std::string& line) {
        broadcast(line + "\n", from.session.get());
        history_.push_back(line);
        while (history_.size() > historySize_) {
            history_.pop_front();
        }
    }

    void broadcast(const std::string& bytes, const Session* except) {
        for (auto& entry : members_) {
            if (!entry.second.nick.empty() && entry.second.session.get() != except) {
                entry.second.session->send(bytes);
            }
        }
    }

    // "a, b, c": the joined members but `except`, in name order.
    std::string names(const Member* except) const {
        std::string list;
        for (const auto& entry : nicks_) {
            const Member& member = members_.at(entry.second);
            if (&member != except) {
                list += (list.empty() ? "" : ", ") + member.nick;
            }
        }
        return list;
    }

    // Returns the problem with `nick` in this room, or "".
    std::string unusable(const std::string& nick, const Member& asker) const {
        const auto taken = nicks_.find(lower(nick));
        const bool free = taken == nicks_.end() || taken->second == asker.session->id();
        return !nickProblem(nick).empty() ? nickProblem(nick) : free ? "" : "the nickname " + nick + " is taken";
    }

    void join(Member& member, const std::string& nick) {
        const std::string problem = unusable(nick, member);
        if (!problem.empty()) {
            member.session->send("! " + problem + "\n* Choose a nickname:\n");
            return;
        }
        member.nick = nick;
        nicks_[lower(nick)] = member.session->id();
        const std::string others = names(&member);
        std::string welcome = "* Welcome, " + nick + "! " + (others.empty() ? "Nobody else is here" : "Here: " + others);
        welcome += ". Type /help for commands.\n";
        for (const auto& line : history_) {
            welcome += line + "\n";
        }
        member.session->send(welcome);
        broadcast("* " + nick + " joined\n", member.session.get());
    }

    void command(Member& member, const std::string& line) {
        const auto space = line.find(' ');
        const std::string name = line.substr(0, space);
        const std::string rest = space == std::string::npos ? "" : trimmed(line.substr(space + 1));
        Session& session = *member.session;
        if (name == "/who") {
            session.send("* " + std::to_string(nicks_.size()) + " here: " + names(nullptr) + "\n");
        } else if (name == "/nick") {
            const std::string problem = rest.empty() ? "usage: /nick NEWNAME" : unusable(rest, member);
            if (!problem.empty()) {
                session.send("! " + problem + "\n");
                return;
            }
            const std::string old = member.nick;
            nicks_.erase(lower(old));
            nicks_[lower(rest)] = session.id();
            member.nick = rest;
            broadcast("* " + old + " is now " + rest + "\n", nullptr);
        } else if (name == "/me" && rest.empty()) {
            session.send("! usage: /me ACTION\n");
        } else if (name == "/me") {
            say(member, "* " + member.nick + " " + rest);
        } else if (name == "/msg") {
            const auto gap = rest.find(' ');
            const std::string to = rest.substr(0, gap);
            const std::string text = gap == std::string::npos ? "" : trimmed(rest.substr(gap + 1));
            const auto target = nicks_.find(lower(to));
            if (to.empty() || text.empty()) {
                session.send("! usage: /msg NICK TEXT\n");
            } else if (target == nicks_.end()) {
                session.send("! no such nickname: " + to + "\n");
            } else {
                members_.at(target->second).session->send("[" + member.nick + "] " + text + "\n");
                session.send("* to " + members_.at(target->second).nick + ": " + text + "\n");
            }
        } else if (name == "/quit") {
            member.quitReason = rest.empty() ? "quit" : "quit: " + rest;
            session.send("* Bye.\n");
            session.close();
        } else if (name == "/help") {
            session.send("* /who: who is here\n* /nick NEWNAME: change your nickname\n* /me ACTION: say what you do\n"
                         "* /msg NICK TEXT: a private message\n* /quit [REASON]: leave\n");
        } else {
            session.send("! unknown command " + name + " (try /help)\n");
        }
    }

    void seedData(Member& member, std::string_view data) {
        if (!member.nick.empty()) {
            broadcast(std::string(data), nullptr);  // relayed unchanged, to the sender too, as the tutorial server does
            return;
        }
        member.nick = trimmed(cleanText(data)).substr(0, 64);  // the tutorial lets two clients share a name; so do we
        if (member.nick.empty()) {
            member.session->send("NICK");
            return;
        }
        broadcast(member.nick + " joined!", nullptr);
        member.session->send("Connected to server!");
    }

    const bool seed_;
    std::string greeting_;  // the motd and the nickname prompt
    const std::size_t historySize_;
    const std::size_t maxUsers_;
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, Member> members_;  // every connection, joined or not
    std::map<std::string, std::uint64_t> nicks_;         // line dialect: lower-case nickname -> member, sorted for /who
    std::deque<std::string> history_;
};

}  // namespace

PLUGHOST_PLUGIN(Chat, "chat", "1.0.0", "a chat room with nicknames and commands; speaks the Python tutorial protocol too")
