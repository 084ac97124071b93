#include "ticket.h"

namespace plughost::admission {

bool HostLimits::tryTake() {
    std::size_t current = connections_.load(std::memory_order_relaxed);
    for (;;) {
        const std::size_t limit = maxConnections();
        if (limit > 0 && current >= limit) {
            return false;
        }
        if (connections_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) {
            return true;
        }
    }
}

std::size_t Ledger::admitted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return admitted_;
}

std::size_t Ledger::fromAddress(const std::string& address) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = perAddress_.find(address);
    return found == perAddress_.end() ? 0 : found->second;
}

void Ledger::add(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++admitted_;
    ++perAddress_[address];
}

void Ledger::remove(const std::string& address) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --admitted_;
        const auto found = perAddress_.find(address);
        if (found != perAddress_.end() && --found->second == 0) {
            perAddress_.erase(found);
        }
    }
    host_->give();
}

Ticket::Ticket(std::shared_ptr<Ledger> ledger, std::string address)
    : ledger_(std::move(ledger)), address_(std::move(address)) {
    ledger_->add(address_);
}

Ticket& Ticket::operator=(Ticket&& other) noexcept {
    if (this != &other) {
        release();
        ledger_ = std::move(other.ledger_);
        address_ = std::move(other.address_);
    }
    return *this;
}

void Ticket::release() noexcept {
    if (ledger_) {
        const std::shared_ptr<Ledger> ledger = std::move(ledger_);
        ledger_.reset();
        ledger->remove(address_);
    }
}

}  // namespace plughost::admission
