// The irc dialect's channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK,
// INVITE and MODE. A channel "#name" is the network's room "name".
#include <algorithm>

#include "irc.h"
#include "text.h"

namespace chat {

namespace {

std::vector<std::string> splitCommas(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t at = 0;
    while (at <= text.size()) {
        const auto comma = std::min(text.find(',', at), text.size());
        parts.push_back(text.substr(at, comma - at));
        at = comma + 1;
    }
    return parts;
}

// '*' and '?' globbing, folded, for ban masks against nick!user@host.
bool matches(const std::string& mask, const std::string& text) {
    const std::string m = fold(mask);
    const std::string t = fold(text);
    std::size_t mi = 0, ti = 0, star = std::string::npos, mark = 0;
    while (ti < t.size()) {
        if (mi < m.size() && (m[mi] == '?' || m[mi] == t[ti])) {
            ++mi, ++ti;
        } else if (mi < m.size() && m[mi] == '*') {
            star = mi++, mark = ti;
        } else if (star != std::string::npos) {
            mi = star + 1, ti = ++mark;
        } else {
            return false;
        }
    }
    while (mi < m.size() && m[mi] == '*') {
        ++mi;
    }
    return mi == m.size();
}

}  // namespace

Room* Irc::channel(Member& member, const std::string& name) {
    Room* room = name.empty() || name[0] != '#' ? nullptr : net_->find(roomName(name));
    if (room == nullptr) {
        numeric(member, "403", (name.empty() ? "*" : name) + " :No such channel");
    }
    return room;
}

void Irc::names(Member& member, const Room& room) {
    const std::string head = std::string(room.secret ? "@" : "=") + " #" + room.name + " :";
    std::string list;
    const auto flush = [&] {
        if (!list.empty()) {
            numeric(member, "353", head + list);
            list.clear();
        }
    };
    std::size_t listed = 0;
    for (const auto& entry : room.seats) {
        if (listed++ == common_.namesMax) {  // bounded: a JOIN into 10,000 does not cost 10,000 names
            flush();
            numeric(member, "366",
                    "#" + room.name + " :End of /NAMES list (" + std::to_string(common_.namesMax) + " of " +
                        std::to_string(room.seats.size()) + " shown)");
            return;
        }
        const std::string name = std::string(entry.second.op      ? "@"
                                             : entry.second.voice ? "+"
                                                                  : "") +
                                 entry.second.member->nick;
        if (head.size() + list.size() + name.size() + 80 > 510) {
            flush();
        }
        list += (list.empty() ? "" : " ") + name;
    }
    flush();
    numeric(member, "366", "#" + room.name + " :End of /NAMES list");
}

void Irc::join(Member& member, const Params& params) {
    if (params.empty() || params[0].empty()) {
        notEnough(member, "JOIN");
        return;
    }
    if (params[0] == "0") {  // JOIN 0: part every channel
        const std::set<std::string> all = member.rooms;
        for (const auto& folded : all) {
            part(member, {"#" + net_->rooms.at(folded)->name, "Left all channels"});
        }
        return;
    }
    const std::vector<std::string> targets = splitCommas(params[0]);
    const std::vector<std::string> keys =
        params.size() > 1 ? splitCommas(params[1]) : std::vector<std::string>{};
    for (std::size_t i = 0; i < targets.size(); ++i) {
        const std::string& typed = targets[i];
        const std::string name = typed.size() > 1 && typed[0] == '#' ? roomName(typed) : "";
        if (name.empty()) {
            numeric(member, "403", (typed.empty() ? "*" : cleanText(typed)) + " :No such channel");
            continue;
        }
        if (member.rooms.count(fold(name)) != 0) {
            continue;
        }
        if (member.rooms.size() >= irc_.maxChannels) {
            numeric(member, "405", "#" + name + " :You have joined too many channels");
            continue;
        }
        if (Room* room = net_->find(name)) {
            const std::string key = i < keys.size() ? keys[i] : "";
            const bool invited = member.invited.count(fold(name)) != 0;
            const bool banned =
                std::any_of(room->bans.begin(), room->bans.end(),
                            [&](const std::string& mask) { return matches(mask, member.prefix()); });
            const char* refused = room->limit > 0 && room->size() >= room->limit ? "471"
                                  : room->inviteOnly && !invited                 ? "473"
                                  : banned && !invited                           ? "474"
                                  : !room->key.empty() && key != room->key       ? "475"
                                                                                 : nullptr;
            if (refused != nullptr) {
                const std::string why = refused[2] == '1'   ? "channel is full"
                                        : refused[2] == '3' ? "invite only channel"
                                        : refused[2] == '4' ? "banned from channel"
                                                            : "bad channel key";
                numeric(member, refused, "#" + room->name + " :Cannot join channel (" + why + ")");
                continue;
            }
        }
        member.invited.erase(fold(name));
        Room& room = net_->enter(member, name);
        room.broadcast(Event{Event::Kind::Join, member.nick, member.prefix(), room.name, "", "", ""},
                       nullptr);
        if (!room.topic.empty()) {
            numeric(member, "332", "#" + room.name + " :" + room.topic);
            numeric(member, "333", "#" + room.name + " " + room.topicBy + " " + std::to_string(room.topicAt));
        }
        names(member, room);
        const std::string replayed = room.replay(Dialect::Irc, member.history, replayBudget(member));
        if (!replayed.empty()) {
            member.session->send(replayed);
        }
    }
}

void Irc::part(Member& member, const Params& params) {
    if (params.empty() || params[0].empty()) {
        notEnough(member, "PART");
        return;
    }
    const std::string reason = params.size() > 1 ? cleanText(params[1]) : "";
    for (const std::string& name : splitCommas(params[0])) {
        Room* room = channel(member, name);
        if (room == nullptr) {
            continue;
        }
        if (member.rooms.count(fold(room->name)) == 0) {
            numeric(member, "442", "#" + room->name + " :You're not on that channel");
            continue;
        }
        room->broadcast(Event{Event::Kind::Part, member.nick, member.prefix(), room->name, reason, "", ""},
                        nullptr);
        net_->exit(member, fold(room->name));
    }
}

void Irc::topic(Member& member, const Params& params) {
    if (params.empty()) {
        notEnough(member, "TOPIC");
        return;
    }
    Room* room = channel(member, params[0]);
    if (room == nullptr) {
        return;
    }
    const auto seat = room->seats.find(fold(member.nick));
    const bool in = seat != room->seats.end();
    if (params.size() < 2) {
        if (room->secret && !in) {
            numeric(member, "442", "#" + room->name + " :You're not on that channel");
        } else if (room->topic.empty()) {
            numeric(member, "331", "#" + room->name + " :No topic is set");
        } else {
            numeric(member, "332", "#" + room->name + " :" + room->topic);
            numeric(member, "333",
                    "#" + room->name + " " + room->topicBy + " " + std::to_string(room->topicAt));
        }
        return;
    }
    if (!in) {
        numeric(member, "442", "#" + room->name + " :You're not on that channel");
    } else if (room->topicLock && !seat->second.op) {
        numeric(member, "482", "#" + room->name + " :You're not channel operator");
    } else {
        room->topic = std::string(cutUtf8(cleanText(params[1]), kTopicLen));
        room->topicBy = member.prefix();
        room->topicAt = unixNow();
        room->broadcast(
            Event{Event::Kind::Topic, member.nick, member.prefix(), room->name, room->topic, "", ""},
            nullptr);
    }
}

void Irc::list(Member& member, const Params& params) {
    numeric(member, "321", "Channel :Users  Name");
    const std::vector<std::string> wanted =
        params.empty() ? std::vector<std::string>{} : splitCommas(params[0]);
    for (const auto& entry : net_->rooms) {
        const Room& room = *entry.second;
        const bool asked =
            wanted.empty() || std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
                return fold(roomName(w)) == entry.first;
            });
        if (asked && (!room.secret || member.rooms.count(entry.first) != 0)) {
            numeric(member, "322", "#" + room.name + " " + std::to_string(room.size()) + " :" + room.topic);
        }
    }
    numeric(member, "323", ":End of /LIST");
}

void Irc::kick(Member& member, const Params& params) {
    if (params.size() < 2) {
        notEnough(member, "KICK");
        return;
    }
    Room* room = channel(member, params[0]);
    if (room == nullptr) {
        return;
    }
    const auto seat = room->seats.find(fold(member.nick));
    if (seat == room->seats.end()) {
        numeric(member, "442", "#" + room->name + " :You're not on that channel");
        return;
    }
    if (!seat->second.op) {
        numeric(member, "482", "#" + room->name + " :You're not channel operator");
        return;
    }
    const std::string reason =
        params.size() > 2 ? std::string(cutUtf8(cleanText(params[2]), kTopicLen)) : member.nick;
    for (const std::string& nick : splitCommas(params[1])) {
        const auto victim = room->seats.find(fold(nick));
        if (victim == room->seats.end()) {
            numeric(member, net_->byNick(nick) ? "441" : "401",
                    net_->byNick(nick) ? nick + " #" + room->name + " :They aren't on that channel"
                                       : nick + " :No such nick/channel");
            continue;
        }
        Member& kicked = *victim->second.member;
        room->broadcast(
            Event{Event::Kind::Kick, member.nick, member.prefix(), room->name, reason, kicked.nick, ""},
            nullptr);
        const std::string folded = fold(room->name);
        const bool last = room->size() == 1;
        net_->exit(kicked, folded);
        if (kicked.dialect != Dialect::Irc) {
            kicked.room.clear();  // a line member kicked from its room is in none until it /joins one
        }
        if (last) {
            return;  // the room went with its last member
        }
    }
}

void Irc::invite(Member& member, const Params& params) {
    if (params.size() < 2) {
        notEnough(member, "INVITE");
        return;
    }
    Member* guest = net_->byNick(params[0]);
    if (guest == nullptr) {
        numeric(member, "401", params[0] + " :No such nick/channel");
        return;
    }
    Room* room = channel(member, params[1]);
    if (room == nullptr) {
        return;
    }
    const auto seat = room->seats.find(fold(member.nick));
    if (seat == room->seats.end()) {
        numeric(member, "442", "#" + room->name + " :You're not on that channel");
    } else if (room->seats.count(fold(guest->nick)) != 0) {
        numeric(member, "443", guest->nick + " #" + room->name + " :is already on channel");
    } else if (room->inviteOnly && !seat->second.op) {
        numeric(member, "482", "#" + room->name + " :You're not channel operator");
    } else {
        guest->invited.insert(fold(room->name));
        numeric(member, "341", guest->nick + " #" + room->name);
        guest->session->send(guest->dialect == Dialect::Irc
                                 ? ":" + member.prefix() + " INVITE " + guest->nick + " #" + room->name +
                                       "\r\n"
                                 : "* " + member.nick + " invites you to /join " + room->name + "\n");
    }
}

std::string Irc::modeString(const Room& room, bool withKey) const {
    std::string flags = "+";
    std::string args;
    for (const auto& [on, letter] : std::vector<std::pair<bool, char>>{{room.inviteOnly, 'i'},
                                                                       {room.moderated, 'm'},
                                                                       {room.noOutside, 'n'},
                                                                       {room.secret, 's'},
                                                                       {room.topicLock, 't'}}) {
        if (on) {
            flags += letter;
        }
    }
    if (!room.key.empty()) {
        flags += 'k';
        args += " " + (withKey ? room.key : std::string("*"));
    }
    if (room.limit > 0) {
        flags += 'l';
        args += " " + std::to_string(room.limit);
    }
    return flags + args;
}

void Irc::mode(Member& member, const Params& params) {
    if (params.empty()) {
        notEnough(member, "MODE");
        return;
    }
    if (params[0].empty() || params[0][0] != '#') {
        userMode(member, params);
        return;
    }
    Room* room = channel(member, params[0]);
    if (room == nullptr) {
        return;
    }
    const bool in = member.rooms.count(fold(room->name)) != 0;
    if (params.size() < 2) {
        numeric(member, "324", "#" + room->name + " " + modeString(*room, in));
        numeric(member, "329", "#" + room->name + " " + std::to_string(room->created));
        return;
    }
    if (params[1] == "b" || params[1] == "+b") {
        for (const std::string& mask : room->bans) {
            numeric(member, "367", "#" + room->name + " " + mask);
        }
        numeric(member, "368", "#" + room->name + " :End of channel ban list");
        return;
    }
    channelModes(member, *room, params);
}

// Applies "+o-v nick nick" and the like; the changes made are told to the room
// as one MODE line. At most kModes of them take a parameter.
void Irc::channelModes(Member& member, Room& room, const Params& params) {
    const auto seat = room.seats.find(fold(member.nick));
    if (seat == room.seats.end() || !seat->second.op) {
        numeric(member, "482", "#" + room.name + " :You're not channel operator");
        return;
    }
    bool adding = true;
    std::size_t next = 2;  // the next parameter
    std::size_t withParam = 0;
    std::string applied;
    std::string args;
    char sign = 0;
    const auto done = [&](char letter, const std::string& arg) {
        const char now = adding ? '+' : '-';
        if (sign != now) {
            applied += now;
            sign = now;
        }
        applied += letter;
        if (!arg.empty()) {
            args += " " + arg;
        }
    };
    for (const char c : params[1]) {
        if (c == '+' || c == '-') {
            adding = c == '+';
            continue;
        }
        bool* flag = c == 'i'   ? &room.inviteOnly
                     : c == 'm' ? &room.moderated
                     : c == 'n' ? &room.noOutside
                     : c == 's' ? &room.secret
                     : c == 't' ? &room.topicLock
                                : nullptr;
        if (flag != nullptr) {
            if (*flag != adding) {
                *flag = adding;
                done(c, "");
            }
            continue;
        }
        const bool takes = c == 'o' || c == 'v' || c == 'b' || c == 'k' || (c == 'l' && adding);
        if (!takes && c != 'l') {
            numeric(member, "472", std::string(1, c) + " :is unknown mode char to me for #" + room.name);
            continue;
        }
        if (takes && (next >= params.size() || withParam >= kModes)) {
            if (next >= params.size() && c != 'b') {
                notEnough(member, "MODE");
            }
            continue;
        }
        const std::string arg = takes ? params[next++] : "";
        withParam += takes ? 1 : 0;
        if (c == 'o' || c == 'v') {
            const auto target = room.seats.find(fold(arg));
            if (target == room.seats.end()) {
                numeric(member, net_->byNick(arg) ? "441" : "401",
                        net_->byNick(arg) ? arg + " #" + room.name + " :They aren't on that channel"
                                          : arg + " :No such nick/channel");
                continue;
            }
            (c == 'o' ? target->second.op : target->second.voice) = adding;
            done(c, target->second.member->nick);
        } else if (c == 'k') {
            const std::string key = std::string(cutUtf8(arg, 23));
            if (adding && (key.empty() || key.find_first_of(" ,:") != std::string::npos)) {
                numeric(member, "525", "#" + room.name + " :Key is not well-formed");
                continue;
            }
            room.key = adding ? key : "";
            done(c, adding ? key : "*");
        } else if (c == 'l' && adding) {
            char* end = nullptr;
            const long limit = std::strtol(arg.c_str(), &end, 10);
            if (arg.empty() || *end != '\0' || limit <= 0 || limit > 1'000'000) {
                continue;  // an unusable limit is ignored, as servers do
            }
            room.limit = static_cast<std::size_t>(limit);
            done(c, std::to_string(limit));
        } else if (c == 'l') {
            if (room.limit != 0) {
                room.limit = 0;
                done(c, "");
            }
        } else if (c == 'b') {
            const std::string mask = cleanText(arg);
            const auto found = std::find(room.bans.begin(), room.bans.end(), mask);
            if (adding && found == room.bans.end() && room.bans.size() < 100 && !mask.empty()) {
                room.bans.push_back(mask);
                done(c, mask);
            } else if (!adding && found != room.bans.end()) {
                room.bans.erase(found);
                done(c, mask);
            }
        }
    }
    if (!applied.empty()) {
        room.broadcast(
            Event{Event::Kind::Mode, member.nick, member.prefix(), room.name, applied + args, "", ""},
            nullptr);
    }
}

}  // namespace chat
