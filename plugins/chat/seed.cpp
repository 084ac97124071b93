// `dialect: seed`: wire-compatible with the classic Python tutorial chat
// client (a raw "NICK" handshake, then bytes relayed unchanged). Its members
// sit in the service's `room:` and hold no nickname: the tutorial lets two
// clients share a name, so others see the name but cannot /msg it.
#include <string>

#include "service.h"
#include "text.h"

namespace chat {
namespace {

class Seed final : public ChatService {
public:
    Seed(plughost::ServiceContext&, Common common) : ChatService(std::move(common), Dialect::Seed) {}

    plughost::Framing framing() const override { return plughost::Framing::Raw; }

    void onOpen(plughost::Session& session) override {
        std::lock_guard<std::mutex> lock(net_->mutex);
        if (admit(session, "! room is full\n") != nullptr) {
            session.send("NICK");  // alone: the tutorial client compares each recv() to exactly "NICK"
        }
    }

    ~Seed() override { stopTicking(); }

    void excessFlood(Member& member) override {
        plughost::Session& session = *member.session;
        session.send("! disconnected: Excess Flood\n");
        drop(session.id(), "Excess Flood");
        session.close();
    }

    void receive(Member& m, std::string_view data) override {
        Member* member = &m;
        Room* room = member->room.empty() ? nullptr : net_->find(member->room);
        if (room != nullptr) {
            room->broadcast(said(*member, data), nullptr);  // to the sender too, as the tutorial server does
            return;
        }
        // Cut, then cleaned: still valid UTF-8.
        member->nick = trimmed(cleanText(data.substr(0, 64)));
        if (member->nick.empty()) {
            member->session->send("NICK");
            return;
        }
        member->user = "seed";
        Room& joined = net_->enter(*member, common_.room);
        member->room = joined.name;
        joined.broadcast(Event{Event::Kind::Join, member->nick, member->prefix(), joined.name, "", "", ""},
                         nullptr);
        member->session->send("Connected to server!");
    }

    void onClose(plughost::Session& session, plughost::CloseReason reason) override {
        std::lock_guard<std::mutex> lock(net_->mutex);
        drop(session.id(), plughost::describe(reason));
    }

private:
    // The tutorial client sends "nick: text": others see the text from the nick.
    static Event said(const Member& member, std::string_view data) {
        std::string text = trimmed(cleanText(data));
        const std::string mine = member.nick + ": ";
        if (text.compare(0, mine.size(), mine) == 0) {
            text.erase(0, mine.size());
        }
        return Event{Event::Kind::Say, member.nick, member.prefix(), member.room, text, "",
                     std::string(data)};
    }
};

}  // namespace

std::unique_ptr<plughost::Service> makeSeed(plughost::ServiceContext& context, Common common) {
    auto made = std::make_unique<Seed>(context, std::move(common));
    made->startTicking();
    return made;
}

}  // namespace chat
