#pragma once
// Rooms and membership, shared by every dialect. A Network is what services
// with the same `network:` setting share: nicknames and rooms. Thread
// contract: everything in a Network (its rooms, their seats, and every Member
// of every service on it) is guarded by Network::mutex; every dialect's
// callbacks and timers take it before they touch any of it. Sending under it
// is fine: Session::send() copies and never blocks.
#include <plughost/session.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace chat {

enum class Dialect { Line, Seed, Irc };

// Something that happened in a room, or to a member, built once and worded
// once per dialect for all recipients of that dialect.
struct Event {
    enum class Kind { Say, Notice, Action, Private, Join, Part, Quit, Nick, Topic, Kick, Mode, Raw };
    Kind kind = Kind::Say;
    std::string from;    // the nickname
    std::string prefix;  // nick!user@host
    std::string room;    // without '#'
    std::string text;    // the message, reason, topic, new nickname or mode change
    std::string target;  // who was kicked, or a private message's recipient
    std::string raw;     // seed: the bytes as sent, relayed unchanged to seed members
    // Kind::Raw: a notice from the server; prefix is the server's name
};

struct Member {
    std::shared_ptr<plughost::Session> session;
    Dialect dialect = Dialect::Line;
    std::string nick;  // empty until joined; seed nicknames are not reserved
    std::string user;
    std::string host;
    std::string realname;
    std::string away;
    bool oper = false;
    bool invisible = false;       // irc user mode +i: counted apart in LUSERS
    std::string room;             // line and seed: the one room it is in ("" before joining)
    std::set<std::string> rooms;  // folded names of every room it sits in
    std::size_t history = 0;      // how many lines of history its service replays
    bool gone = false;            // removed from the network (killed): its lines are ignored
    double tokens = 0;            // flood control: lines it may send now
    std::chrono::steady_clock::time_point refilled;
    std::deque<std::string> delayed;  // lines past its rate, in order
    // irc only
    bool registered = false;
    bool passOk = false;
    bool capPending = false;
    std::string password;                         // the PASS it sent
    std::chrono::steady_clock::time_point heard;  // last line from it
    bool pinged = false;
    std::set<std::string> invited;  // folded rooms it was invited to
    std::string prefix() const { return nick + "!" + user + "@" + host; }
};

struct Seat {
    Member* member = nullptr;
    bool op = false;
    bool voice = false;
};

class Room {
public:
    explicit Room(std::string spelled) : name(std::move(spelled)) {}
    // Sends `event` to everyone seated but `except`, each dialect's words built once.
    void broadcast(const Event& event, const Member* except) const;
    // Keeps `event` in the history: at most `max` events and `maxBytes` bytes of text.
    void remember(Event event, std::size_t max, std::size_t maxBytes);
    // The last `count` events of the history as `dialect` words, the newest
    // ones that fit in `budget` bytes, oldest first.
    std::string replay(Dialect dialect, std::size_t count, std::size_t budget) const;
    std::vector<const Member*> members() const;  // nicknamed first, in name order
    std::size_t size() const { return seats.size() + guests.size(); }

    std::string name;                         // as first spelled, without '#'
    std::map<std::string, Seat> seats;        // folded nickname -> seat
    std::map<std::uint64_t, Member*> guests;  // seed members, who hold no nickname
    std::string topic;
    std::string topicBy;
    std::int64_t topicAt = 0;
    std::int64_t created = 0;
    bool topicLock = true;          // +t
    bool noOutside = true;          // +n
    bool moderated = false;         // +m
    bool inviteOnly = false;        // +i
    bool secret = false;            // +s
    std::string key;                // +k
    std::size_t limit = 0;          // +l
    std::vector<std::string> bans;  // +b masks
    std::deque<Event> history;
    std::size_t historyBytes = 0;  // what history's events weigh (text, names, raw bytes)
};

// The bytes a member of `dialect` receives for `event` ("" for nothing).
std::string word(Dialect dialect, const Event& event);

struct Network {
    std::mutex mutex;
    std::string name;
    std::map<std::string, Member*> nicks;                // folded nickname -> member, every dialect but seed
    std::map<std::string, std::unique_ptr<Room>> rooms;  // folded name -> room, while someone is in it
    std::size_t historyMax = 0;
    std::size_t historyBytesMax = 0;  // the largest history_bytes of its services
    std::int64_t created = 0;

    Room& room(const std::string& name);  // found or made
    Room* find(const std::string& name);
    // Seats `member` in the room; the first one in becomes its operator.
    Room& enter(Member& member, const std::string& name);
    // Takes `member` out of a room (no event); drops the room when empty.
    void exit(Member& member, const std::string& folded);
    // Sends `event` once to every member sharing a room with `member` (and to it if `self`).
    void toNeighbours(const Member& member, const Event& event, bool self);
    // Removes a member from everything, telling its neighbours `why` with a Quit.
    void remove(Member& member, const std::string& why);
    Member* byNick(const std::string& nick);
    // Gives `member` the (checked, free) nickname `nick`, in the network and every room it sits in.
    void rename(Member& member, const std::string& nick);
};

// The network called `name`, shared by every service naming it; "" is a
// private network of one service.
std::shared_ptr<Network> joinNetwork(const std::string& name);

std::int64_t unixNow();

}  // namespace chat
