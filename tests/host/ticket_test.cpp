// Admission tickets (host/services/admission.h): places are given back exactly once, and the
// host-wide limit is checked and taken in one step.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "services/admission.h"

namespace {

using plughost::admission::HostLimits;
using plughost::admission::Ledger;
using plughost::admission::Ticket;

struct Books {
    std::shared_ptr<HostLimits> host = std::make_shared<HostLimits>();
    std::shared_ptr<Ledger> ledger = std::make_shared<Ledger>(host);
    Ticket take(const std::string& address) {
        EXPECT_TRUE(host->tryTake());
        return Ticket(ledger, address);
    }
};

TEST(Ticket, GivesEverythingBackOnceWhenDropped) {
    Books books;
    {
        Ticket a = books.take("10.0.0.1");
        Ticket b = books.take("10.0.0.1");
        EXPECT_EQ(books.ledger->admitted(), 2u);
        EXPECT_EQ(books.ledger->fromAddress("10.0.0.1"), 2u);
        EXPECT_EQ(books.host->connections(), 2u);
        a.release();
        a.release();  // a second release does nothing
        EXPECT_EQ(books.ledger->admitted(), 1u);
        EXPECT_EQ(books.host->connections(), 1u);
    }
    EXPECT_EQ(books.ledger->admitted(), 0u);
    EXPECT_EQ(books.ledger->fromAddress("10.0.0.1"), 0u);
    EXPECT_EQ(books.host->connections(), 0u);
}

TEST(Ticket, TravelsByMoveAndIsReleasedByItsLastHolder) {
    Books books;
    std::vector<Ticket> queue;
    queue.push_back(books.take("10.0.0.2"));
    Ticket moved = std::move(queue.back());
    queue.clear();  // the moved-from ticket holds nothing
    EXPECT_EQ(books.ledger->admitted(), 1u);
    Ticket other = books.take("10.0.0.3");
    moved = std::move(other);  // assigning over a held ticket gives its places back
    EXPECT_EQ(books.ledger->fromAddress("10.0.0.2"), 0u);
    EXPECT_EQ(books.ledger->fromAddress("10.0.0.3"), 1u);
    EXPECT_FALSE(other.held());
    EXPECT_TRUE(moved.held());
    moved = Ticket();
    EXPECT_EQ(books.host->connections(), 0u);
}

TEST(Ticket, HostLimitIsNeverPassedByThreadsTakingAtOnce) {
    HostLimits host;
    host.setMaxConnections(5);
    std::atomic<int> holding{0};
    std::atomic<int> most{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                if (host.tryTake()) {
                    const int now = ++holding;
                    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
                    }
                    --holding;
                    host.give();
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_LE(most.load(), 5);
    EXPECT_EQ(host.connections(), 0u);
    host.setMaxConnections(0);  // no limit
    EXPECT_TRUE(host.tryTake());
}

}  // namespace
