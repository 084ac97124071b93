#include "ticker.h"

namespace chat {

Ticker& Ticker::get() {
    static Ticker ticker;
    return ticker;
}

void Ticker::add(const void* key, std::function<void()> job) {
    std::lock_guard<std::mutex> life(life_);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_[key] = std::move(job);
        stop_ = false;
    }
    if (!thread_.joinable()) {
        thread_ = std::thread([this] { run(); });
    }
}

void Ticker::remove(const void* key) {
    std::lock_guard<std::mutex> life(life_);
    bool last = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);  // waits for a running round: jobs run under it
        jobs_.erase(key);
        last = jobs_.empty();
        stop_ = last;
    }
    if (last && thread_.joinable()) {
        wake_.notify_all();
        thread_.join();
    }
}

void Ticker::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
        if (wake_.wait_for(lock, kPeriod, [this] { return stop_; })) {
            break;
        }
        for (auto& entry : jobs_) {
            entry.second();
        }
    }
}

}  // namespace chat
