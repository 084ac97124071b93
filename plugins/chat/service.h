#pragma once
// What every dialect's service has: the settings common to all, its network,
// and its own connections (Members, owned here, seated in the network's rooms).
#include <plughost/plugin.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "room.h"

namespace chat {

struct Common {
    std::string network;  // "" : a network of this service alone
    // The network itself, when the plugin already joined it: a line service's IRC-over-WebSocket
    // sessions (chat.cpp) sit in the same one, also when it is the service's own.
    std::shared_ptr<Network> joined;
    std::string room;  // where line and seed members sit at first
    std::string motd;
    std::size_t history = 0;
    std::size_t maxUsers = 0;
};

class ChatService : public plughost::Service {
public:
    ChatService(Common common, Dialect dialect);
    ~ChatService() override;

protected:
    // Under net_->mutex. Refuses past max_users, else a new Member of this service.
    Member* admit(plughost::Session& session, std::string_view full);
    Member* find(std::uint64_t id);
    // Takes the member out of the network, telling its neighbours, and forgets it.
    void drop(std::uint64_t id, const std::string& why);
    // Every member of this service (its own sessions).
    template <class F>
    void each(F&& f) {
        for (auto& entry : members_) {
            f(*entry.second);
        }
    }

    const Common common_;
    const Dialect dialect_;
    std::shared_ptr<Network> net_;

private:
    std::unordered_map<std::uint64_t, std::unique_ptr<Member>> members_;
};

std::unique_ptr<plughost::Service> makeLine(plughost::ServiceContext& context, Common common);
std::unique_ptr<plughost::Service> makeSeed(plughost::ServiceContext& context, Common common);
std::unique_ptr<plughost::Service> makeIrc(plughost::ServiceContext& context, Common common);
// The irc dialect's settings (server_name, password, opers, ping_interval, ...), read and checked.
struct IrcSettings;
IrcSettings readIrcSettings(plughost::ServiceContext& context);
std::unique_ptr<plughost::Service> makeIrc(Common common, IrcSettings settings);

}  // namespace chat
