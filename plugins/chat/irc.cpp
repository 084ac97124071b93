#include "irc.h"

#include <algorithm>
#include <cstring>

#include "text.h"

namespace chat {

namespace {
const char kVersion[] = "plughost-chat-1.0.0";
}

IrcLine parseIrc(std::string_view line) {
    IrcLine parsed;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
        line.remove_suffix(1);
    }
    const auto word = [&]() {
        const auto start = line.find_first_not_of(' ');
        line.remove_prefix(start == std::string_view::npos ? line.size() : start);
        const auto end = std::min(line.find(' '), line.size());
        std::string_view taken = line.substr(0, end);
        line.remove_prefix(end);
        return taken;
    };
    if (!line.empty() && line.front() == '@') {
        word();  // message tags: none are supported, all are ignored
    }
    if (const auto start = line.find_first_not_of(' ');
        start != std::string_view::npos && line[start] == ':') {
        word();  // a client's own prefix means nothing to a server
    }
    for (const char c : word()) {
        parsed.command += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }
    while (parsed.params.size() < 15) {
        const auto start = line.find_first_not_of(' ');
        if (start == std::string_view::npos) {
            break;
        }
        if (line[start] == ':' || parsed.params.size() == 14) {
            const std::size_t from = line[start] == ':' ? start + 1 : start;
            parsed.params.emplace_back(line.substr(from));
            break;
        }
        parsed.params.emplace_back(word());
    }
    return parsed;
}

bool validNick(const std::string& nick) {
    if (nick.empty() || nick.size() > kNickLen) {
        return false;
    }
    const auto special = [](char c) { return std::strchr("[]\\`_^{|}", c) != nullptr; };
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!letter(nick[0]) && !special(nick[0])) {
        return false;
    }
    return std::all_of(nick.begin(), nick.end(),
                       [&](char c) { return letter(c) || special(c) || (c >= '0' && c <= '9') || c == '-'; });
}

Irc::Irc(Common common, IrcSettings settings)
    : ChatService(std::move(common), Dialect::Irc), irc_(std::move(settings)) {
    isupport_ =
        "AWAYLEN=" + std::to_string(kAwayLen) +
        " CASEMAPPING=rfc1459 CHANLIMIT=#:" + std::to_string(irc_.maxChannels) +
        " CHANMODES=b,k,l,imnst CHANNELLEN=50 CHANTYPES=# KICKLEN=" + std::to_string(kTopicLen) +
        " MODES=" + std::to_string(kModes) + (common_.network.empty() ? "" : " NETWORK=" + common_.network) +
        " NICKLEN=" + std::to_string(kNickLen) + " PREFIX=(ov)@+ TOPICLEN=" + std::to_string(kTopicLen);
}

Irc::~Irc() { stopTicking(); }

void Irc::excessFlood(Member& member) { closeLink(member, "Excess Flood"); }

void Irc::numeric(Member& member, const char* code, const std::string& rest) {
    // Cleaned: parameters echoed back (a target, a mode letter) may be anything a client typed.
    std::string line = ":" + irc_.serverName + " " + code + " " + (member.nick.empty() ? "*" : member.nick) +
                       " " + cleanText(rest);
    line = std::string(cutUtf8(line, 510)) + "\r\n";
    member.session->send(line);
}

void Irc::closeLink(Member& member, const std::string& why) {
    plughost::Session& session = *member.session;
    session.send("ERROR :Closing link: " + (member.host) + " (" + why + ")\r\n");
    drop(session.id(), why);  // member is gone after this
    session.close();
}

void Irc::onOpen(plughost::Session& session) {
    std::lock_guard<std::mutex> lock(net_->mutex);
    Member* member = admit(session, "ERROR :Closing link: the server is full\r\n");
    if (member != nullptr) {
        member->heard = std::chrono::steady_clock::now();
        member->passOk = irc_.password.empty();
    }
}

void Irc::receive(Member& m, std::string_view data) {
    const IrcLine line = parseIrc(data);
    Member* member = &m;
    plughost::Session& session = *member->session;
    if (line.command.empty()) {
        return;
    }
    if (line.command == "PONG") {
        return;
    }
    if (line.command == "PING") {
        if (line.params.empty()) {
            numeric(*member, "409", ":No origin specified");
        } else {
            session.send(":" + irc_.serverName + " PONG " + irc_.serverName + " :" +
                         cleanText(std::string(cutUtf8(line.params[0], 400))) + "\r\n");
        }
    } else if (line.command == "QUIT") {
        closeLink(*member, line.params.empty() ? "Quit" : "Quit: " + cleanText(line.params[0]));
    } else if (!member->registered) {
        registration(*member, line);
    } else {
        command(*member, line);
    }
}

void Irc::onLineTooLong(plughost::Session& session, std::size_t) {
    std::lock_guard<std::mutex> lock(net_->mutex);
    if (Member* member = find(session.id())) {
        numeric(*member, "417", ":Input line was too long");
    }
}

void Irc::onClose(plughost::Session& session, plughost::CloseReason reason) {
    std::lock_guard<std::mutex> lock(net_->mutex);
    drop(session.id(), plughost::describe(reason));
}

void Irc::onStopping() {
    std::lock_guard<std::mutex> lock(net_->mutex);
    each([](Member& member) { member.session->send("ERROR :Closing link: server shutting down\r\n"); });
}

// Pings, ping timeouts and registration timeouts: once a second is enough.
void Irc::tick(std::chrono::steady_clock::time_point now) {
    if (now - lastSweep_ < std::chrono::seconds(1)) {
        return;
    }
    lastSweep_ = now;
    std::vector<std::pair<Member*, std::string>> dead;
    each([&](Member& member) {
        const auto quiet = now - member.heard;
        if (!member.registered && quiet >= irc_.registrationTimeout) {
            dead.emplace_back(&member, "Registration timed out");
        } else if (member.registered && quiet >= irc_.pingInterval + irc_.pingTimeout) {
            dead.emplace_back(
                &member, "Ping timeout: " + std::to_string((irc_.pingInterval + irc_.pingTimeout).count()) +
                             " seconds");
        } else if (member.registered && quiet >= irc_.pingInterval && !member.pinged) {
            member.pinged = true;
            member.session->send("PING :" + irc_.serverName + "\r\n");
        }
    });
    for (auto& [member, why] : dead) {
        closeLink(*member, why);
    }
}

void Irc::registration(Member& member, const IrcLine& line) {
    const Params& p = line.params;
    if (line.command == "CAP") {
        const std::string sub = p.empty() ? "" : p[0];
        if (sub == "LS" || sub == "LIST") {
            member.capPending = member.capPending || sub == "LS";
            member.session->send(":" + irc_.serverName + " CAP * " + sub + " :\r\n");
        } else if (sub == "REQ") {
            member.capPending = true;
            member.session->send(":" + irc_.serverName + " CAP * NAK :" +
                                 cleanText(std::string(cutUtf8(p.size() > 1 ? p[1] : "", 400))) + "\r\n");
        } else if (sub == "END") {
            member.capPending = false;
        } else {
            numeric(member, "410", (sub.empty() ? "*" : sub) + " :Invalid CAP command");
        }
    } else if (line.command == "PASS") {
        if (p.empty()) {
            notEnough(member, "PASS");
        } else {
            member.password = p[0];
        }
        return;
    } else if (line.command == "NICK") {
        nick(member, p);
    } else if (line.command == "USER") {
        if (p.size() < 4 || p[0].empty()) {
            notEnough(member, "USER");
            return;
        }
        member.user = cleanText(std::string(cutUtf8(p[0], 10)));
        std::replace_if(
            member.user.begin(), member.user.end(), [](char c) { return c == '@' || c == '!'; }, '_');
        member.realname = cleanText(p[3]);
    } else {
        numeric(member, "451", ":You have not registered");
        return;
    }
    if (member.registered || member.capPending || member.user.empty() || member.nick.empty()) {
        return;
    }
    if (!irc_.password.empty() && member.password != irc_.password) {
        numeric(member, "464", ":Password incorrect");
        closeLink(member, "Bad password");
        return;
    }
    welcome(member);
}

void Irc::welcome(Member& member) {
    member.registered = true;
    const std::string network = common_.network.empty() ? irc_.serverName : common_.network;
    numeric(member, "001", ":Welcome to the " + network + " IRC network, " + member.prefix());
    numeric(member, "002", ":Your host is " + irc_.serverName + ", running version " + kVersion);
    numeric(member, "003", ":This server was created at unix time " + std::to_string(net_->created));
    numeric(member, "004", irc_.serverName + " " + kVersion + " io biklmnost bklov");
    numeric(member, "005", isupport_ + " :are supported by this server");
    lusers(member);
    motd(member);
}

void Irc::lusers(Member& member) {
    std::size_t opers = 0;
    std::size_t invisible = 0;
    for (const auto& entry : net_->nicks) {
        opers += entry.second->oper ? 1 : 0;
        invisible += entry.second->invisible ? 1 : 0;
    }
    const std::string users = std::to_string(net_->nicks.size());
    numeric(member, "251",
            ":There are " + std::to_string(net_->nicks.size() - invisible) + " users and " +
                std::to_string(invisible) + " invisible on 1 servers");
    numeric(member, "252", std::to_string(opers) + " :operator(s) online");
    numeric(member, "254", std::to_string(net_->rooms.size()) + " :channels formed");
    numeric(member, "255", ":I have " + users + " clients and 0 servers");
}

void Irc::motd(Member& member) {
    if (common_.motd.empty()) {
        numeric(member, "422", ":MOTD File is missing");
        return;
    }
    numeric(member, "375", ":- " + irc_.serverName + " Message of the day - ");
    std::size_t start = 0;
    while (start < common_.motd.size()) {
        const auto end = std::min(common_.motd.find('\n', start), common_.motd.size());
        numeric(member, "372", ":- " + common_.motd.substr(start, end - start));
        start = end + 1;
    }
    numeric(member, "376", ":End of /MOTD command.");
}

void Irc::nick(Member& member, const Params& params) {
    if (params.empty() || params[0].empty()) {
        numeric(member, "431", ":No nickname given");
        return;
    }
    const std::string& wanted = params[0];
    if (!validNick(wanted)) {
        numeric(member, "432",
                (wanted.find_first_of(" \r\n") == std::string::npos ? cleanText(wanted) : "*") +
                    " :Erroneous nickname");
        return;
    }
    const Member* holder = net_->byNick(wanted);
    if (holder != nullptr && holder != &member) {
        numeric(member, "433", wanted + " :Nickname is already in use");
        return;
    }
    if (wanted == member.nick) {
        return;
    }
    if (!member.registered) {
        net_->rename(member, wanted);
        return;
    }
    const Event event{Event::Kind::Nick, member.nick, member.prefix(), "", wanted, "", ""};
    net_->rename(member, wanted);
    net_->toNeighbours(member, event, true);
}

void Irc::command(Member& member, const IrcLine& line) {
    const std::string& c = line.command;
    const Params& p = line.params;
    if (c == "PRIVMSG" || c == "NOTICE") {
        message(member, line);
    } else if (c == "JOIN") {
        join(member, p);
    } else if (c == "PART") {
        part(member, p);
    } else if (c == "NICK") {
        nick(member, p);
    } else if (c == "TOPIC") {
        topic(member, p);
    } else if (c == "NAMES") {
        if (p.empty()) {
            numeric(member, "366", "* :End of /NAMES list");
        }
        for (std::size_t at = 0; !p.empty() && at <= p[0].size();) {
            const auto comma = std::min(p[0].find(',', at), p[0].size());
            const std::string name = p[0].substr(at, comma - at);
            at = comma + 1;
            Room* room = net_->find(roomName(name));
            if (room != nullptr && (!room->secret || member.rooms.count(fold(room->name)) != 0)) {
                names(member, *room);
            } else if (!name.empty()) {
                numeric(member, "366", name + " :End of /NAMES list");
            }
        }
    } else if (c == "LIST") {
        list(member, p);
    } else if (c == "KICK") {
        kick(member, p);
    } else if (c == "INVITE") {
        invite(member, p);
    } else if (c == "MODE") {
        mode(member, p);
    } else if (c == "WHO") {
        who(member, p);
    } else if (c == "WHOIS") {
        whois(member, p);
    } else if (c == "AWAY") {
        member.away = p.empty() ? "" : std::string(cutUtf8(cleanText(p[0]), kAwayLen));
        numeric(member, member.away.empty() ? "305" : "306",
                member.away.empty() ? ":You are no longer marked as being away"
                                    : ":You have been marked as being away");
    } else if (c == "OPER") {
        oper(member, p);
    } else if (c == "MOTD") {
        motd(member);
    } else if (c == "LUSERS") {
        lusers(member);
    } else if (c == "KILL") {
        kill(member, p);
    } else if (c == "USER" || c == "PASS") {
        numeric(member, "462", ":You may not reregister");
    } else if (c == "CAP") {
        registration(member, line);  // CAP after registration: answered the same way
    } else {
        numeric(member, "421", cleanText(std::string(cutUtf8(c, 64))) + " :Unknown command");
    }
}

std::unique_ptr<plughost::Service> makeIrc(plughost::ServiceContext& context, Common common) {
    return makeIrc(std::move(common), readIrcSettings(context));
}

std::unique_ptr<plughost::Service> makeIrc(Common common, IrcSettings settings) {
    auto made = std::make_unique<Irc>(std::move(common), std::move(settings));
    made->startTicking();
    return made;
}

IrcSettings readIrcSettings(plughost::ServiceContext& context) {
    const auto& settings = context.settings();
    IrcSettings irc;
    irc.serverName = settings.getString("server_name", "plughost.local");
    if (irc.serverName.empty() || irc.serverName.size() > 63 ||
        irc.serverName.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != std::string::npos ||
        irc.serverName.find('.') == std::string::npos) {
        settings.reject("server_name",
                        "'" + irc.serverName +
                            "' is not a server name (a host name with a dot: letters, digits, '-', "
                            "'.', at most 63)");
    }
    irc.password = settings.getString("password", "");
    for (const std::string& entry : settings.getStringList("opers")) {
        const auto space = entry.find(' ');
        const std::string name = entry.substr(0, space);
        const std::string hash = space == std::string::npos ? "" : trimmed(entry.substr(space + 1));
        if (name.empty() || hash.compare(0, 3, "$6$") != 0 || hash.find(' ') != std::string::npos) {
            settings.reject("opers", "'" + entry +
                                         "' is not 'NAME HASH' with a crypt(3) SHA-512 hash ($6$..., from "
                                         "mkpasswd -m sha-512)");
        }
        irc.opers[name] = hash;
    }
    irc.pingInterval = std::chrono::seconds(settings.getInt("ping_interval", 120, 1, 86400));
    irc.pingTimeout = std::chrono::seconds(settings.getInt("ping_timeout", 60, 1, 86400));
    irc.registrationTimeout = std::chrono::seconds(settings.getInt("registration_timeout", 30, 1, 86400));
    irc.maxChannels = static_cast<std::size_t>(settings.getInt("max_channels", 20, 1, 1000));
    return irc;
}

}  // namespace chat
