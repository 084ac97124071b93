// The irc dialect's commands between users: PRIVMSG and NOTICE, WHO, WHOIS,
// OPER, KILL and user MODE.
#include <crypt.h>

#include <algorithm>

#include "irc.h"
#include "text.h"

namespace chat {

void Irc::message(Member& member, const IrcLine& line) {
    const bool notice = line.command == "NOTICE";
    const Params& p = line.params;
    if (p.empty() || p[0].empty()) {
        if (!notice) {
            numeric(member, "411", ":No recipient given (" + line.command + ")");
        }
        return;
    }
    if (p.size() < 2 || p[1].empty()) {
        if (!notice) {
            numeric(member, "412", ":No text to send");
        }
        return;
    }
    std::string text = cleanText(p[1]);
    Event::Kind kind = notice ? Event::Kind::Notice : Event::Kind::Say;
    const std::string action =
        "\x01"
        "ACTION ";
    if (!notice && p[1].compare(0, action.size(), action) == 0) {
        kind = Event::Kind::Action;
        text = cleanText(
            p[1].substr(action.size(), p[1].size() - action.size() - (p[1].back() == '\x01' ? 1 : 0)));
    }
    std::string start;
    for (std::size_t at = 0; at <= p[0].size();) {  // comma-separated targets
        const auto comma = std::min(p[0].find(',', at), p[0].size());
        const std::string target = p[0].substr(at, comma - at);
        at = comma + 1;
        if (target.empty()) {
            continue;
        }
        if (target[0] == '#') {
            Room* room = net_->find(roomName(target));
            if (room == nullptr) {
                if (!notice) {
                    numeric(member, "403", target + " :No such channel");
                }
                continue;
            }
            const auto seat = room->seats.find(fold(member.nick));
            const bool in = seat != room->seats.end();
            if ((room->noOutside && !in) ||
                (room->moderated && (!in || (!seat->second.op && !seat->second.voice)))) {
                if (!notice) {
                    numeric(member, "404", "#" + room->name + " :Cannot send to channel");
                }
                continue;
            }
            Event event{kind, member.nick, member.prefix(), room->name, text, "", ""};
            room->broadcast(event, &member);
            if (kind != Event::Kind::Notice) {
                room->remember(std::move(event), net_->historyMax, net_->historyBytesMax);
            }
        } else if (Member* to = net_->byNick(target)) {
            if (to->dialect == Dialect::Irc) {
                const std::string wrap = kind == Event::Kind::Action ? "\x01" : "";
                to->session->send(std::string(cutUtf8(
                                      ":" + member.prefix() + (notice ? " NOTICE " : " PRIVMSG ") + to->nick +
                                          " :" + (wrap.empty() ? "" : wrap + "ACTION ") + text + wrap,
                                      510)) +
                                  "\r\n");
            } else {
                to->session->send(
                    word(to->dialect, Event{kind == Event::Kind::Action ? kind : Event::Kind::Private,
                                            member.nick, member.prefix(), "", text, to->nick, ""}));
            }
            if (!notice && !to->away.empty()) {
                numeric(member, "301", to->nick + " :" + to->away);
            }
        } else if (!notice) {
            numeric(member, "401", target + " :No such nick/channel");
        }
    }
}

void Irc::who(Member& member, const Params& params) {
    const std::string mask = params.empty() ? "*" : params[0];
    const auto line = [&](const Member& who, const std::string& channel, const Seat* seat) {
        const std::string flags = std::string(who.away.empty() ? "H" : "G") + (who.oper ? "*" : "") +
                                  (seat != nullptr && seat->op      ? "@"
                                   : seat != nullptr && seat->voice ? "+"
                                                                    : "");
        numeric(member, "352",
                channel + " " + who.user + " " + who.host + " " + irc_.serverName + " " + who.nick + " " +
                    flags + " :0 " + (who.realname.empty() ? who.nick : who.realname));
    };
    if (!mask.empty() && mask[0] == '#') {
        Room* room = net_->find(roomName(mask));
        if (room != nullptr && (!room->secret || member.rooms.count(fold(room->name)) != 0)) {
            for (const auto& entry : room->seats) {
                line(*entry.second.member, "#" + room->name, &entry.second);
            }
        }
    } else if (Member* who = net_->byNick(mask)) {
        line(*who, "*", nullptr);
    }
    numeric(member, "315", mask + " :End of WHO list");
}

void Irc::whois(Member& member, const Params& params) {
    if (params.empty()) {
        numeric(member, "431", ":No nickname given");
        return;
    }
    const std::string& nick = params.back();  // WHOIS [server] nick
    Member* who = net_->byNick(nick);
    if (who == nullptr) {
        numeric(member, "401", nick + " :No such nick/channel");
        numeric(member, "318", nick + " :End of /WHOIS list");
        return;
    }
    numeric(member, "311",
            who->nick + " " + who->user + " " + who->host +
                " * :" + (who->realname.empty() ? who->nick : who->realname));
    std::string channels;
    for (const auto& folded : who->rooms) {
        const Room& room = *net_->rooms.at(folded);
        if (room.secret && member.rooms.count(folded) == 0) {
            continue;
        }
        const auto seat = room.seats.find(fold(who->nick));
        const bool op = seat != room.seats.end() && seat->second.op;
        const bool voice = seat != room.seats.end() && seat->second.voice;
        channels += std::string(channels.empty() ? "" : " ") +
                    (op      ? "@"
                     : voice ? "+"
                             : "") +
                    "#" + room.name;
    }
    if (!channels.empty()) {
        numeric(member, "319", who->nick + " :" + channels);
    }
    numeric(member, "312",
            who->nick + " " + irc_.serverName + " :" +
                (who->dialect == Dialect::Irc ? "IRC" : "line dialect") + " on plughost");
    if (who->oper) {
        numeric(member, "313", who->nick + " :is an IRC operator");
    }
    if (!who->away.empty()) {
        numeric(member, "301", who->nick + " :" + who->away);
    }
    numeric(member, "318", who->nick + " :End of /WHOIS list");
}

void Irc::oper(Member& member, const Params& params) {
    if (params.size() < 2) {
        notEnough(member, "OPER");
        return;
    }
    const auto found = irc_.opers.find(params[0]);
    if (found == irc_.opers.end()) {
        numeric(member, "491", ":No O-lines for your host");
        return;
    }
    crypt_data data{};
    const char* hashed = crypt_r(params[1].c_str(), found->second.c_str(), &data);
    if (hashed == nullptr || found->second != hashed) {
        numeric(member, "464", ":Password incorrect");
        return;
    }
    member.oper = true;
    numeric(member, "381", ":You are now an IRC operator");
    member.session->send(":" + member.nick + " MODE " + member.nick + " :+o\r\n");
}

// Operators only: disconnects anyone on the network, whatever its dialect.
void Irc::kill(Member& member, const Params& params) {
    if (!member.oper) {
        numeric(member, "481", ":Permission Denied- You're not an IRC operator");
        return;
    }
    if (params.empty()) {
        notEnough(member, "KILL");
        return;
    }
    Member* victim = net_->byNick(params[0]);
    if (victim == nullptr) {
        numeric(member, "401", params[0] + " :No such nick/channel");
        return;
    }
    const std::string why =
        "Killed (" + member.nick + " (" + (params.size() > 1 ? cleanText(params[1]) : "") + "))";
    std::shared_ptr<plughost::Session> session = victim->session;
    if (victim->dialect == Dialect::Irc) {
        session->send("ERROR :Closing link: " + victim->host + " (" + why + ")\r\n");
    } else {
        session->send("* " + why + "\n");
    }
    net_->remove(*victim, why);  // its service forgets it when the session's close is reported
    session->close();
}

void Irc::userMode(Member& member, const Params& params) {
    if (fold(params[0]) != fold(member.nick)) {
        numeric(member, net_->byNick(params[0]) ? "502" : "401",
                net_->byNick(params[0]) ? ":Cant change mode for other users"
                                        : params[0] + " :No such nick/channel");
        return;
    }
    if (params.size() < 2) {
        numeric(member, "221", std::string("+") + (member.invisible ? "i" : "") + (member.oper ? "o" : ""));
        return;
    }
    bool adding = true;
    for (const char c : params[1]) {
        if (c == '+' || c == '-') {
            adding = c == '+';
        } else if ((c == 'o' && !adding && member.oper) || (c == 'i' && member.invisible != adding)) {
            (c == 'o' ? member.oper : member.invisible) = adding;  // +o only through OPER
            member.session->send(":" + member.nick + " MODE " + member.nick + " :" + (adding ? "+" : "-") +
                                 c + "\r\n");
        } else if (c != 'o' && c != 'i') {
            numeric(member, "501", ":Unknown MODE flag");
        }
    }
}

}  // namespace chat
