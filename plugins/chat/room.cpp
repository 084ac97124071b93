#include "room.h"

#include <array>
#include <ctime>
#include <optional>

#include "text.h"

namespace chat {

namespace {

// ":prefix VERB PARAMS :text\r\n", the text cut into as many lines as it takes
// for each to stay within IRC's 512 bytes.
std::string ircLines(const std::string& head, std::string_view text, const std::string& open = "",
                     const std::string& close = "") {
    const std::size_t wrapSize = open.size() + close.size();
    const std::size_t room = head.size() + 2 + wrapSize + 2 < 512 ? 512 - head.size() - 4 - wrapSize : 1;
    std::string out;
    do {
        const std::string_view piece = cutUtf8(text, room);
        out += head + " :" + open + std::string(piece) + close + "\r\n";
        text.remove_prefix(piece.empty() ? text.size() : piece.size());
    } while (!text.empty());
    return out;
}

// One IRC line: cut to 510 bytes (at a character boundary) and CRLF.
std::string one(const std::string& line) { return std::string(cutUtf8(line, 510)) + "\r\n"; }

std::string ircWord(const Event& e) {
    const std::string channel = "#" + e.room;
    switch (e.kind) {
        case Event::Kind::Say:
            return ircLines(":" + e.prefix + " PRIVMSG " + channel, e.text);
        case Event::Kind::Notice:
            return ircLines(":" + e.prefix + " NOTICE " + channel, e.text);
        case Event::Kind::Action:
            return ircLines(":" + e.prefix + " PRIVMSG " + channel, e.text,
                            "\x01"
                            "ACTION ",
                            "\x01");
        case Event::Kind::Private:
            return ircLines(":" + e.prefix + " PRIVMSG " + e.target, e.text);
        case Event::Kind::Join:
            return one(":" + e.prefix + " JOIN " + channel);
        case Event::Kind::Part:
            return one(":" + e.prefix + " PART " + channel + " :" + e.text);
        case Event::Kind::Quit:
            return one(":" + e.prefix + " QUIT :" + e.text);
        case Event::Kind::Nick:
            return one(":" + e.prefix + " NICK :" + e.text);
        case Event::Kind::Topic:
            return one(":" + e.prefix + " TOPIC " + channel + " :" + e.text);
        case Event::Kind::Kick:
            return one(":" + e.prefix + " KICK " + channel + " " + e.target + " :" + e.text);
        case Event::Kind::Mode:
            return one(":" + e.prefix + " MODE " + channel + " " + e.text);
        case Event::Kind::Raw:
            return ":" + e.prefix + " NOTICE * :" + e.text + "\r\n";  // prefix: the server
    }
    return "";
}

std::string lineWord(const Event& e) {
    switch (e.kind) {
        case Event::Kind::Say:
            return e.from + ": " + e.text + "\n";
        case Event::Kind::Notice:
            return "-" + e.from + "- " + e.text + "\n";
        case Event::Kind::Action:
            return "* " + e.from + " " + e.text + "\n";
        case Event::Kind::Private:
            return "[" + e.from + "] " + e.text + "\n";
        case Event::Kind::Join:
            return "* " + e.from + " joined\n";
        case Event::Kind::Part:
        case Event::Kind::Quit:
            return "* " + e.from + " left (" + e.text + ")\n";
        case Event::Kind::Nick:
            return "* " + e.from + " is now " + e.text + "\n";
        case Event::Kind::Topic:
            return "* " + e.from + " set the topic: " + e.text + "\n";
        case Event::Kind::Kick:
            return "* " + e.target + " was kicked by " + e.from + " (" + e.text + ")\n";
        case Event::Kind::Mode:
            return "* " + e.from + " sets mode " + e.text + "\n";
        case Event::Kind::Raw:
            return "* " + e.text + "\n";
    }
    return "";
}

// The tutorial client prints each recv() as it comes: no newlines of ours.
std::string seedWord(const Event& e) {
    switch (e.kind) {
        case Event::Kind::Say:
        case Event::Kind::Notice:
        case Event::Kind::Private:
            return e.raw.empty() ? e.from + ": " + e.text : e.raw;
        case Event::Kind::Action:
            return "* " + e.from + " " + e.text;
        case Event::Kind::Join:
            return e.from + " joined!";
        case Event::Kind::Part:
        case Event::Kind::Quit:
        case Event::Kind::Kick:
            return (e.kind == Event::Kind::Kick ? e.target : e.from) + " left!";
        default:
            return "";
    }
}

}  // namespace

std::string word(Dialect dialect, const Event& event) {
    return dialect == Dialect::Irc    ? ircWord(event)
           : dialect == Dialect::Line ? lineWord(event)
                                      : seedWord(event);
}

std::int64_t unixNow() { return static_cast<std::int64_t>(std::time(nullptr)); }

void Room::broadcast(const Event& event, const Member* except) const {
    std::array<std::optional<std::string>, 3> words;  // one per dialect, built on first use
    const auto send = [&](const Member& to) {
        if (&to == except) {
            return;
        }
        auto& bytes = words[static_cast<std::size_t>(to.dialect)];
        if (!bytes) {
            bytes = word(to.dialect, event);
        }
        if (!bytes->empty()) {
            to.session->send(*bytes);
        }
    };
    for (const auto& seat : seats) {
        send(*seat.second.member);
    }
    for (const auto& guest : guests) {
        send(*guest.second);
    }
}

namespace {
std::size_t weight(const Event& e) { return e.from.size() + e.prefix.size() + e.text.size() + e.raw.size(); }
}  // namespace

void Room::remember(Event event, std::size_t max, std::size_t maxBytes) {
    if (max == 0 || weight(event) > maxBytes) {
        return;
    }
    historyBytes += weight(event);
    history.push_back(std::move(event));
    while (history.size() > max || historyBytes > maxBytes) {
        historyBytes -= weight(history.front());
        history.pop_front();
    }
}

std::string Room::replay(Dialect dialect, std::size_t count, std::size_t budget) const {
    std::vector<std::string> words;
    std::size_t total = 0;
    for (auto at = history.rbegin(); at != history.rend() && words.size() < count; ++at) {
        std::string bytes = word(dialect, *at);
        if (total + bytes.size() > budget) {
            break;
        }
        total += bytes.size();
        words.push_back(std::move(bytes));
    }
    std::string out;
    out.reserve(total);
    for (auto at = words.rbegin(); at != words.rend(); ++at) {
        out += *at;
    }
    return out;
}

std::vector<const Member*> Room::members() const {
    std::vector<const Member*> all;
    all.reserve(size());
    for (const auto& seat : seats) {
        all.push_back(seat.second.member);
    }
    for (const auto& guest : guests) {
        all.push_back(guest.second);
    }
    return all;
}

Room* Network::find(const std::string& name) {
    const auto found = rooms.find(fold(name));
    return found == rooms.end() ? nullptr : found->second.get();
}

Room& Network::room(const std::string& name) {
    auto& slot = rooms[fold(name)];
    if (!slot) {
        slot = std::make_unique<Room>(name);
        slot->created = unixNow();
    }
    return *slot;
}

Room& Network::enter(Member& member, const std::string& name) {
    Room& joined = room(name);
    if (member.dialect == Dialect::Seed) {
        joined.guests[member.session->id()] = &member;
    } else {
        const bool first = joined.seats.empty();
        joined.seats[fold(member.nick)] = Seat{&member, first && member.dialect == Dialect::Irc, false};
    }
    member.rooms.insert(fold(name));
    return joined;
}

void Network::exit(Member& member, const std::string& folded) {
    const auto found = rooms.find(folded);
    member.rooms.erase(folded);
    if (found == rooms.end()) {
        return;
    }
    Room& left = *found->second;
    if (member.dialect == Dialect::Seed) {
        left.guests.erase(member.session->id());
    } else {
        left.seats.erase(fold(member.nick));
    }
    if (left.size() == 0) {
        rooms.erase(found);
    }
}

void Network::toNeighbours(const Member& member, const Event& event, bool self) {
    std::set<const Member*> done;
    if (!self) {
        done.insert(&member);
    }
    std::array<std::optional<std::string>, 3> words;
    const auto send = [&](const Member& to) {
        if (!done.insert(&to).second) {
            return;
        }
        auto& bytes = words[static_cast<std::size_t>(to.dialect)];
        if (!bytes) {
            bytes = word(to.dialect, event);
        }
        if (!bytes->empty()) {
            to.session->send(*bytes);
        }
    };
    if (self) {
        send(member);
    }
    for (const auto& folded : member.rooms) {
        if (const auto found = rooms.find(folded); found != rooms.end()) {
            for (const Member* each : found->second->members()) {
                send(*each);
            }
        }
    }
}

void Network::remove(Member& member, const std::string& why) {
    member.gone = true;
    if (member.nick.empty()) {
        return;
    }
    Event quit{Event::Kind::Quit, member.nick, member.prefix(), "", why, "", ""};
    toNeighbours(member, quit, false);
    const std::set<std::string> all = member.rooms;
    for (const auto& folded : all) {
        exit(member, folded);
    }
    if (member.dialect != Dialect::Seed) {
        const auto found = nicks.find(fold(member.nick));
        if (found != nicks.end() && found->second == &member) {
            nicks.erase(found);
        }
    }
    member.nick.clear();
}

Member* Network::byNick(const std::string& nick) {
    const auto found = nicks.find(fold(nick));
    return found == nicks.end() ? nullptr : found->second;
}

void Network::rename(Member& member, const std::string& nick) {
    const std::string before = fold(member.nick);
    const std::string after = fold(nick);
    if (!member.nick.empty() && nicks.count(before) != 0 && nicks[before] == &member) {
        nicks.erase(before);
    }
    nicks[after] = &member;
    for (const auto& folded : member.rooms) {
        Room& in = *rooms.at(folded);
        const auto seat = in.seats.find(before);
        if (seat != in.seats.end()) {
            const Seat kept = seat->second;
            in.seats.erase(seat);
            in.seats[after] = kept;
        }
    }
    member.nick = nick;
}

std::shared_ptr<Network> joinNetwork(const std::string& name) {
    static std::mutex registryMutex;
    static std::map<std::string, std::weak_ptr<Network>> registry;
    const auto make = [&] {
        auto made = std::make_shared<Network>();
        made->name = name;
        made->created = unixNow();
        return made;
    };
    if (name.empty()) {
        return make();
    }
    std::lock_guard<std::mutex> lock(registryMutex);
    auto& slot = registry[name];
    auto shared = slot.lock();
    if (!shared) {
        shared = make();
        slot = shared;
    }
    return shared;
}

}  // namespace chat
