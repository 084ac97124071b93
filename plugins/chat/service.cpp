#include "service.h"

#include <algorithm>

namespace chat {

ChatService::ChatService(Common common, Dialect dialect)
    : common_(std::move(common)),
      dialect_(dialect),
      net_(common_.joined ? common_.joined : joinNetwork(common_.network)) {
    std::lock_guard<std::mutex> lock(net_->mutex);
    net_->historyMax = std::max(net_->historyMax, common_.history);
}

// Sessions end before their service; any left (a host that did not close them)
// must not stay seated in a shared network with dangling members.
ChatService::~ChatService() {
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
