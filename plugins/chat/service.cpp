#include "service.h"

#include <algorithm>

#include "ticker.h"

namespace chat {

ChatService::ChatService(Common common, Dialect dialect)
    : common_(std::move(common)),
      dialect_(dialect),
      net_(common_.joined ? common_.joined : joinNetwork(common_.network)) {
    std::lock_guard<std::mutex> lock(net_->mutex);
    net_->historyMax = std::max(net_->historyMax, common_.history);
    net_->historyBytesMax = std::max(net_->historyBytesMax, common_.historyBytes);
}

// Not in the constructor: the ticker's thread calls the virtual tick() (the dialect must be complete), and
// it runs its jobs under its own mutex, which must never be taken under net_->mutex (the jobs take it).
void ChatService::startTicking() {
    ticking_ = true;
    Ticker::get().add(this, [this] {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard<std::mutex> lock(net_->mutex);
        release(now);
        tick(now);
    });
}

std::size_t ChatService::replayBudget(const Member& member) const {
    const std::size_t half = (common_.maxQueue == 0 ? 1024 * 1024 : common_.maxQueue) / 2;
    const std::size_t queued = member.session->queued();
    return queued < half ? half - queued : 0;
}

void ChatService::stopTicking() {
    if (ticking_) {
        ticking_ = false;
        Ticker::get().remove(this);
    }
}

void ChatService::onData(plughost::Session& session, std::string_view data) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(net_->mutex);
    Member* member = find(session.id());
    if (member == nullptr) {
        return;  // refused as full, or gone
    }
    member->heard = now;
    member->pinged = false;
    if (admitLine(*member, now)) {
        receive(*member, data);
        return;
    }
    if (member->delayed.size() >= common_.floodQueue) {
        common_.counters.add("flood_disconnected");
        excessFlood(*member);
        return;
    }
    member->delayed.emplace_back(data);
    delayed_.insert(session.id());
    common_.counters.add("flood_delayed");
}

// A line may pass now if nothing is waiting before it and the bucket has a token.
bool ChatService::admitLine(Member& member, std::chrono::steady_clock::time_point now) {
    if (!common_.flood) {
        return true;
    }
    const double elapsed = std::chrono::duration<double>(now - member.refilled).count();
    member.tokens =
        std::min(static_cast<double>(common_.floodBurst), member.tokens + elapsed * common_.floodRate);
    member.refilled = now;
    if (!member.delayed.empty() || member.tokens < 1) {
        return false;
    }
    member.tokens -= 1;
    return true;
}

void ChatService::release(std::chrono::steady_clock::time_point now) {
    for (auto at = delayed_.begin(); at != delayed_.end();) {
        const std::uint64_t id = *at;
        Member* member = find(id);
        while (member != nullptr && !member->delayed.empty()) {
            const double elapsed = std::chrono::duration<double>(now - member->refilled).count();
            member->tokens = std::min(static_cast<double>(common_.floodBurst),
                                      member->tokens + elapsed * common_.floodRate);
            member->refilled = now;
            if (member->tokens < 1) {
                break;
            }
            member->tokens -= 1;
            const std::string line = std::move(member->delayed.front());
            member->delayed.pop_front();
            receive(*member, line);
            member = find(id);  // it may have quit
        }
        at = member == nullptr || member->delayed.empty() ? delayed_.erase(at) : std::next(at);
    }
}

// Sessions end before their service; any left (a host that did not close them)
// must not stay seated in a shared network with dangling members.
ChatService::~ChatService() {
    stopTicking();
    std::lock_guard<std::mutex> lock(net_->mutex);
    for (auto& entry : members_) {
        net_->remove(*entry.second, "service stopped");
    }
}

Member* ChatService::admit(plughost::Session& session, std::string_view full) {
    if (common_.maxUsers > 0 && members_.size() >= common_.maxUsers) {
        session.send(full);
        session.close();
        return nullptr;
    }
    auto member = std::make_unique<Member>();
    member->session = session.shared_from_this();
    member->dialect = dialect_;
    member->history = common_.history;
    member->tokens = static_cast<double>(common_.floodBurst);
    member->refilled = std::chrono::steady_clock::now();
    const std::string& peer = session.peer();
    const auto colon = peer.rfind(':');
    member->host = colon == std::string::npos ? peer : peer.substr(0, colon);
    if (member->host.size() > 2 && member->host.front() == '[') {
        member->host = member->host.substr(1, member->host.size() - 2);
    }
    if (member->host.empty() || member->host.front() == ':') {
        member->host = "0" + member->host;  // an IRC parameter cannot start with ':'
    }
    Member* raw = member.get();
    members_[session.id()] = std::move(member);
    return raw;
}

Member* ChatService::find(std::uint64_t id) {
    const auto found = members_.find(id);
    return found == members_.end() || found->second->gone ? nullptr : found->second.get();
}

void ChatService::drop(std::uint64_t id, const std::string& why) {
    const auto found = members_.find(id);
    if (found == members_.end()) {
        return;
    }
    net_->remove(*found->second, why);
    members_.erase(found);
}

}  // namespace chat
