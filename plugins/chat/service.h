#pragma once
// What every dialect's service has: the settings common to all, its network,
// and its own connections (Members, owned here, seated in the network's rooms).
#include <plughost/plugin.h>

#include <memory>
#include <set>
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
    std::size_t historyBytes = 64 * 1024;  // history_bytes: what a room's history may weigh
    std::size_t maxQueue = 0;              // the service's max_queue (0: the host did not say)
    std::size_t maxUsers = 0;
    // Flood control, IRC style (a token bucket per member): `flood_burst` lines
    // at once, then `flood_rate` lines a second; lines beyond are delayed, and a
    // member with more than `flood_queue` delayed lines is disconnected.
    bool flood = true;
    std::size_t floodBurst = 20;
    double floodRate = 5.0;
    std::size_t floodQueue = 100;
    std::size_t namesMax = 40;  // names a welcome or a JOIN's NAMES lists; "and N more" says the rest
    plughost::Counters counters;
};

class ChatService : public plughost::Service {
public:
    ChatService(Common common, Dialect dialect);
    ~ChatService() override;

    // Flood control, then receive() (now or, delayed, from the ticker).
    void onData(plughost::Session& session, std::string_view data) final;

protected:
    // A line (or raw chunk) from `member`, under net_->mutex, past flood control.
    // The member may be gone (dropped and freed) when it returns.
    virtual void receive(Member& member, std::string_view data) = 0;
    // Says why and closes: the member kept flooding. Under net_->mutex.
    virtual void excessFlood(Member& member) = 0;
    // Every Ticker period, under net_->mutex (after delayed lines were released).
    virtual void tick(std::chrono::steady_clock::time_point) {}

public:
    // Has the ticker call release() and tick(); once the dialect is constructed (its factory does it).
    void startTicking();

protected:
    // Stops the ticker calling tick(); the first thing a dialect's destructor does.
    void stopTicking();
    // Bytes of history a replay to `member` may queue now: half of max_queue
    // less what is already queued for it, so a newcomer is never closed as too
    // slow for its own welcome.
    std::size_t replayBudget(const Member& member) const;
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
    bool admitLine(Member& member, std::chrono::steady_clock::time_point now);
    void release(std::chrono::steady_clock::time_point now);

    std::unordered_map<std::uint64_t, std::unique_ptr<Member>> members_;
    std::set<std::uint64_t> delayed_;  // members with delayed lines: what the ticker visits
    bool ticking_ = false;
};

std::unique_ptr<plughost::Service> makeLine(plughost::ServiceContext& context, Common common);
std::unique_ptr<plughost::Service> makeSeed(plughost::ServiceContext& context, Common common);
std::unique_ptr<plughost::Service> makeIrc(plughost::ServiceContext& context, Common common);
// The irc dialect's settings (server_name, password, opers, ping_interval, ...), read and checked.
struct IrcSettings;
IrcSettings readIrcSettings(plughost::ServiceContext& context);
std::unique_ptr<plughost::Service> makeIrc(Common common, IrcSettings settings);

}  // namespace chat
