#pragma once
// One timer thread for every chat service of the process: it runs while at
// least one service is registered and calls each registered job every 100 ms
// (irc's pings and registration timeouts, every dialect's delayed flood lines).
// A service per thread cost one thread start and join per service, which is
// what made fuzz_chat and a reload of many services slow.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace chat {

class Ticker {
public:
    static constexpr std::chrono::milliseconds kPeriod{100};
    static Ticker& get();
    // Calls `job` every period from the ticker's thread until remove(key).
    // Neither may be called from a job, nor while holding a lock a job takes.
    void add(const void* key, std::function<void()> job);
    // Once it returns, `key`'s job is not running and never runs again.
    void remove(const void* key);

private:
    void run();

    std::mutex life_;  // serialises starting and joining the thread
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::map<const void*, std::function<void()>> jobs_;
    std::thread thread_;
};

}  // namespace chat
