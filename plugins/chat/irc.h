#pragma once
// `dialect: irc`: a small IRC server for IRC clients (RFC 1459/2812 as the
// modern client protocol documentation clarifies them). irc.cpp registers
// clients, keeps them alive and dispatches; irc_users.cpp is PRIVMSG, NOTICE,
// WHO, WHOIS, OPER and KILL; irc_channel.cpp is JOIN, PART, MODE and the rest
// of the channel commands.
#include <chrono>
#include <condition_variable>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "service.h"

namespace chat {

struct IrcSettings {
    std::string serverName;
    std::string password;                      // "" : no PASS needed
    std::map<std::string, std::string> opers;  // OPER name -> crypt(3) hash
    std::chrono::seconds pingInterval{120};    // a quiet client is pinged after this
    std::chrono::seconds pingTimeout{60};      // and dropped if no reply follows within this
    std::chrono::seconds registrationTimeout{30};
    std::size_t maxChannels = 20;
};

// One parsed line: the command (upper case) and its parameters, the trailing one included.
struct IrcLine {
    std::string command;
    std::vector<std::string> params;
};
IrcLine parseIrc(std::string_view line);

constexpr std::size_t kNickLen = 30;
constexpr std::size_t kTopicLen = 390;
constexpr std::size_t kAwayLen = 200;
constexpr std::size_t kModes = 4;  // MODES: modes with a parameter per MODE command

class Irc final : public ChatService {
public:
    Irc(Common common, IrcSettings settings);
    ~Irc() override;

    plughost::Framing framing() const override { return plughost::Framing::Lines; }
    void onOpen(plughost::Session& session) override;
    void onLineTooLong(plughost::Session& session, std::size_t max) override;
    void onClose(plughost::Session& session, plughost::CloseReason reason) override;
    void onStopping() override;

private:
    using Params = std::vector<std::string>;
    // ":server CODE nick REST\r\n", cut to 512 bytes.
    void numeric(Member& member, const char* code, const std::string& rest);
    void notEnough(Member& member, const std::string& command) {
        numeric(member, "461", command + " :Not enough parameters");
    }
    // ERROR, out of the network, closed.
    void closeLink(Member& member, const std::string& why);

    void registration(Member& member, const IrcLine& line);
    void welcome(Member& member);
    void lusers(Member& member);
    void motd(Member& member);
    void nick(Member& member, const Params& params);
    void message(Member& member, const IrcLine& line);
    void who(Member& member, const Params& params);
    void whois(Member& member, const Params& params);
    void oper(Member& member, const Params& params);
    void userMode(Member& member, const Params& params);
    void kill(Member& member, const Params& params);
    void command(Member& member, const IrcLine& line);
    void receive(Member& member, std::string_view data) override;
    void excessFlood(Member& member) override;
    void tick(std::chrono::steady_clock::time_point now) override;

    // irc_channel.cpp
    void join(Member& member, const Params& params);
    void part(Member& member, const Params& params);
    void topic(Member& member, const Params& params);
    void names(Member& member, const Room& room);
    void list(Member& member, const Params& params);
    void kick(Member& member, const Params& params);
    void invite(Member& member, const Params& params);
    void mode(Member& member, const Params& params);
    void channelModes(Member& member, Room& room, const Params& params);
    std::string modeString(const Room& room, bool withKey) const;
    // The room `name` names and the asker's seat in it, or a numeric sent and nullptr.
    Room* channel(Member& member, const std::string& name);

    const IrcSettings irc_;
    std::string isupport_;                             // the 005 tokens, built once
    std::chrono::steady_clock::time_point lastSweep_;  // tick(): the last ping sweep (under net_->mutex)
};

bool validNick(const std::string& nick);

}  // namespace chat
