// `dialect: line`: people on nc/telnet and bots. One line is one message or a
// /command; a member sits in one room at a time, the service's `room:` at first.
#include <string>

#include "service.h"
#include "text.h"

namespace chat {
namespace {

// Nicknames are ASCII, spelled out: no locale may widen what counts as a letter.
constexpr char kNickChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

// The most names one /who lists: a room of 10,000 does not turn 5 bytes into 100 KB.
constexpr std::size_t kWhoMax = 200;

// "2" or "0.5": a rate as a person writes it.
std::string rate(double perSecond) {
    std::string text = std::to_string(perSecond);
    text.erase(text.find_last_not_of('0') + 1);
    if (!text.empty() && text.back() == '.') {
        text.pop_back();
    }
    return text;
}

class Line final : public ChatService {
public:
    Line(plughost::ServiceContext&, Common common) : ChatService(std::move(common), Dialect::Line) {
        std::size_t start = 0;
        while (start < common_.motd.size()) {
            const auto end = common_.motd.find('\n', start);
            greeting_ += "* " + common_.motd.substr(start, end - start) + "\n";
            start = end == std::string::npos ? common_.motd.size() : end + 1;
        }
        greeting_ += "* Choose a nickname (1-24 letters, digits, _ - .):\n";
    }

    plughost::Framing framing() const override { return plughost::Framing::Lines; }

    // "Full" counts connections, joined or still choosing a nickname: max_users
    // bounds what the service holds, and a newcomer learns it before picking a name.
    void onOpen(plughost::Session& session) override {
        std::lock_guard<std::mutex> lock(net_->mutex);
        if (admit(session, "! room is full\n") != nullptr) {
            session.send(greeting_);
        }
    }

    ~Line() override { stopTicking(); }

    void receive(Member& member, std::string_view data) override {
        const std::string text = cleanText(data);
        if (member.nick.empty()) {
            join(member, trimmed(data));  // not cleaned: a control byte is a bad character, not dropped
        } else if (!text.empty() && text.front() == '/') {
            command(member, text);
        } else if (!text.empty()) {
            say(member, Event::Kind::Say, text);
        }
    }

    void excessFlood(Member& member) override {
        plughost::Session& session = *member.session;
        session.send("! disconnected: Excess Flood (more than " + std::to_string(common_.floodQueue) +
                     " lines waiting; at most " + std::to_string(common_.floodBurst) + " at once, then " +
                     rate(common_.floodRate) + " a second)\n");
        drop(session.id(), "Excess Flood");
        session.close();
    }

    void onLineTooLong(plughost::Session& session, std::size_t max) override {
        session.send("! line too long (max " + std::to_string(max) + " bytes)\n");
    }

    void onClose(plughost::Session& session, plughost::CloseReason reason) override {
        std::lock_guard<std::mutex> lock(net_->mutex);
        drop(session.id(), plughost::describe(reason));
    }

    void onStopping() override {
        std::lock_guard<std::mutex> lock(net_->mutex);
        each([](Member& member) {
            if (!member.nick.empty()) {
                member.session->send("* server shutting down\n");
            }
        });
    }

private:
    Room* here(const Member& member) { return net_->find(member.room); }

    void say(Member& member, Event::Kind kind, const std::string& text) {
        Room* room = here(member);
        if (room == nullptr) {
            member.session->send("! you are in no room: /join ROOM\n");  // kicked by an IRC operator
            return;
        }
        Event event{kind, member.nick, member.prefix(), room->name, text, "", ""};
        room->broadcast(event, &member);
        room->remember(std::move(event), net_->historyMax, net_->historyBytesMax);
    }

    // "a, b, c": who is in the room, in name order (seed guests last); past `max`
    // names, "... and N more". O(max), not O(members): no copy of the room.
    static std::string names(const Room* room, std::size_t max) {
        std::string list;
        std::size_t listed = 0;
        if (room == nullptr) {
            return list;
        }
        const auto add = [&](const Member& each) {
            list += (list.empty() ? "" : ", ") + each.nick;
            return ++listed < max;
        };
        bool more = true;
        for (auto seat = room->seats.begin(); more && seat != room->seats.end(); ++seat) {
            more = add(*seat->second.member);
        }
        for (auto guest = room->guests.begin(); more && guest != room->guests.end(); ++guest) {
            more = add(*guest->second);
        }
        if (room->size() > listed) {
            list += " ... and " + std::to_string(room->size() - listed) + " more";
        }
        return list;
    }

    // Why `asker` cannot take `nick`, or "". A member may change the case of its own.
    std::string unusable(const std::string& nick, const Member& asker) const {
        const Member* taken = net_->byNick(nick);
        return nick.empty()       ? "a nickname cannot be empty"
               : nick.size() > 24 ? "a nickname has at most 24 characters"
               : nick.find_first_not_of(kNickChars) != std::string::npos
                   ? "a nickname has only ASCII letters, digits, '_', '-' and '.'"
               : taken != nullptr && taken != &asker ? "the nickname " + nick + " is taken"
                                                     : "";
    }

    // Seats the member in `name`, announcing it; returns the room.
    Room& enter(Member& member, const std::string& name) {
        Room& room = net_->enter(member, name);
        member.room = room.name;
        room.broadcast(Event{Event::Kind::Join, member.nick, member.prefix(), room.name, "", "", ""},
                       &member);
        return room;
    }

    void leaveRoom(Member& member, const std::string& why) {
        if (Room* room = here(member)) {
            room->broadcast(Event{Event::Kind::Part, member.nick, member.prefix(), room->name, why, "", ""},
                            &member);
            net_->exit(member, fold(room->name));
        }
        member.room.clear();
    }

    std::string replay(const Room& room, const Member& member) const {
        return room.replay(Dialect::Line, member.history, replayBudget(member));
    }

    void join(Member& member, const std::string& nick) {
        if (const std::string problem = unusable(nick, member); !problem.empty()) {
            member.session->send("! " + problem + "\n* Choose a nickname:\n");
            return;
        }
        const Room* before = net_->find(common_.room);
        const std::string others = names(before, common_.namesMax);  // before the newcomer is listed
        net_->rename(member, nick);
        member.user = nick;
        std::string welcome =
            "* Welcome, " + nick + "! " + (others.empty() ? "Nobody else is here" : "Here: " + others);
        welcome += ". Type /help for commands.\n";
        if (before != nullptr) {
            welcome += replay(*before, member);
        }
        member.session->send(welcome);
        enter(member, common_.room);
    }

    void move(Member& member, const std::string& typed) {
        const std::string name = roomName(typed);
        if (name.empty()) {
            member.session->send(
                "! a room name has 1-49 characters, no spaces, commas, colons or '#' inside\n");
            return;
        }
        if (fold(name) == fold(member.room)) {
            member.session->send("! you are already in " + member.room + "\n");
            return;
        }
        const Room* target = net_->find(name);
        if (target != nullptr && (target->inviteOnly || !target->key.empty() ||
                                  (target->limit > 0 && target->size() >= target->limit))) {
            member.session->send("! room " + target->name + " is closed to you (invite-only, key or full)\n");
            return;
        }
        leaveRoom(member, "joined " + name);
        const std::string others = names(net_->find(name), common_.namesMax);
        Room& room = enter(member, name);
        member.session->send("* Now in room " + room.name + ". " +
                             (others.empty() ? "Nobody else is here" : "Here: " + others) + ".\n" +
                             (room.topic.empty() ? "" : "* Topic: " + room.topic + "\n") +
                             replay(room, member));
    }

    void command(Member& member, const std::string& line);

    std::string greeting_;  // the motd and the nickname prompt, built once
};

void Line::command(Member& member, const std::string& line) {
    const auto space = line.find(' ');
    const std::string name = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : trimmed(line.substr(space + 1));
    plughost::Session& session = *member.session;
    if (name == "/who") {
        const Room* room = here(member);
        session.send("* " + std::to_string(room == nullptr ? 0 : room->size()) +
                     " here: " + names(room, kWhoMax) + "\n");
    } else if (name == "/nick") {
        const std::string problem = rest.empty() ? "usage: /nick NEWNAME" : unusable(rest, member);
        if (problem.empty()) {
            const Event event{Event::Kind::Nick, member.nick, member.prefix(), "", rest, "", ""};
            net_->rename(member, rest);
            member.user = rest;
            net_->toNeighbours(member, event, true);
        } else {
            session.send("! " + problem + "\n");
        }
    } else if (name == "/me" && rest.empty()) {
        session.send("! usage: /me ACTION\n");
    } else if (name == "/me") {
        say(member, Event::Kind::Action, rest);
    } else if (name == "/msg") {
        const auto gap = rest.find(' ');
        const std::string text = gap == std::string::npos ? "" : trimmed(rest.substr(gap + 1));
        Member* to = net_->byNick(rest.substr(0, gap));
        if (text.empty()) {
            session.send("! usage: /msg NICK TEXT\n");
        } else if (to == nullptr) {
            session.send("! no such nickname: " + rest.substr(0, gap) + "\n");
        } else {
            to->session->send(word(to->dialect, Event{Event::Kind::Private, member.nick, member.prefix(), "",
                                                      text, to->nick, ""}));
            session.send("* to " + to->nick + ": " + text + "\n");
        }
    } else if (name == "/join" && rest.empty()) {
        session.send("! usage: /join ROOM\n");
    } else if (name == "/join") {
        move(member, rest);
    } else if (name == "/part" && fold(member.room) == fold(common_.room)) {
        session.send("! you are in " + member.room + ", where everyone starts: /quit to leave\n");
    } else if (name == "/part") {
        move(member, common_.room);
    } else if (name == "/rooms") {
        std::string list;
        for (const auto& entry : net_->rooms) {
            if (!entry.second->secret || member.rooms.count(entry.first) != 0) {
                list += "* " + entry.second->name + " (" + std::to_string(entry.second->size()) + ")" +
                        (entry.second->topic.empty() ? "" : ": " + entry.second->topic) + "\n";
            }
        }
        session.send(list);
    } else if (name == "/quit") {
        // Leave now rather than in onClose: the reason is ours, and nothing
        // the client pipelined after /quit can be relayed any more.
        session.send("* Bye.\n");
        drop(session.id(), rest.empty() ? "quit" : "quit: " + rest);
        session.close();
    } else if (name == "/help") {
        session.send(
            "* /who: who is here\n* /nick NEWNAME: change your nickname\n* /me ACTION: say what you do\n"
            "* /msg NICK TEXT: a private message\n* /join ROOM: go to another room\n"
            "* /part: back to " +
            common_.room +
            "\n* /rooms: the rooms and how many are in each\n"
            "* /quit [REASON]: leave\n");
    } else {
        session.send("! unknown command " + name + " (try /help)\n");
    }
}

}  // namespace

std::unique_ptr<plughost::Service> makeLine(plughost::ServiceContext& context, Common common) {
    auto made = std::make_unique<Line>(context, std::move(common));
    made->startTicking();
    return made;
}

}  // namespace chat
