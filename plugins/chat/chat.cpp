// The chat plugin: rooms with nicknames, spoken in three dialects. `line` is
// for people on nc/telnet and bots, `seed` is wire-compatible with the classic
// Python tutorial client, `irc` is a small IRC server for IRC clients.
// Services naming the same `network:` share nicknames and rooms (room.h).
//
// A line service's WebSocket sessions that ask for the IRC-over-WebSocket
// subprotocol (text.ircv3.net or binary.ircv3.net: what web IRC clients, and
// the project's chat page, web/chat/, ask for) speak the irc dialect, in the
// same network: a browser and an nc user of one service meet in one room.
#include <plughost/plugin.h>

#include <any>
#include <mutex>
#include <optional>

#include "irc.h"
#include "service.h"
#include "text.h"

namespace {

class Chat final : public plughost::Service {
public:
    explicit Chat(plughost::ServiceContext& context) {
        const auto& settings = context.settings();
        const std::string dialect = settings.getChoice("dialect", "line", {"line", "seed", "irc"});
        chat::Common common;
        common.network = settings.getString("network", "");
        const std::string room = settings.getString("room", "lobby");
        common.room = chat::roomName(room);
        if (common.room.empty()) {
            settings.reject("room", "'" + room +
                                        "' is not a room name (1-49 characters, no spaces, commas, colons or "
                                        "'#' but a leading one)");
        }
        common.motd = settings.getString("motd", "");
        common.history = static_cast<std::size_t>(settings.getInt("history", 0, 0, 10000));
        common.historyBytes =
            static_cast<std::size_t>(settings.getInt("history_bytes", 64 * 1024, 0, 64 * 1024 * 1024));
        common.maxQueue = context.maxQueue();
        common.maxUsers = static_cast<std::size_t>(settings.getInt("max_users", 0, 0, 10'000'000));
        common.flood = settings.getBool("flood", true);
        common.floodBurst = static_cast<std::size_t>(settings.getInt("flood_burst", 20, 1, 10000));
        common.floodRate = settings.getDouble("flood_rate", 5.0);
        if (!(common.floodRate >= 0.01 && common.floodRate <= 10000)) {
            settings.reject("flood_rate", "a rate is lines a second, from 0.01 to 10000");
        }
        common.floodQueue = static_cast<std::size_t>(settings.getInt("flood_queue", 100, 1, 100000));
        common.namesMax = static_cast<std::size_t>(settings.getInt("names_max", 40, 1, 10000));
        common.counters = context.counters();
        common.joined = chat::joinNetwork(common.network);
        if (dialect == "line") {
            webCommon_ = common;
            webSettings_ = chat::readIrcSettings(context);
        }
        impl_ = dialect == "seed"  ? chat::makeSeed(context, std::move(common))
                : dialect == "irc" ? chat::makeIrc(context, std::move(common))
                                   : chat::makeLine(context, std::move(common));
    }

    plughost::Framing framing() const override { return impl_->framing(); }
    void onOpen(plughost::Session& session) override {
        plughost::Service* handler = impl_.get();
        if (webCommon_) {
            const auto connection = session.connection();
            if (connection.webSocket && (connection.webSocketSubprotocol == "text.ircv3.net" ||
                                         connection.webSocketSubprotocol == "binary.ircv3.net")) {
                handler = web();
            }
        }
        session.state() = handler;
        handler->onOpen(session);
    }
    void onData(plughost::Session& session, std::string_view data) override {
        handler(session)->onData(session, data);
    }
    void onLineTooLong(plughost::Session& session, std::size_t max) override {
        handler(session)->onLineTooLong(session, max);
    }
    void onClose(plughost::Session& session, plughost::CloseReason reason) override {
        handler(session)->onClose(session, reason);
    }
    void onStopping() override {
        impl_->onStopping();
        std::lock_guard<std::mutex> lock(webMutex_);
        if (web_) {
            web_->onStopping();
        }
    }

private:
    // Who serves the session: the service's dialect, or the irc dialect for web IRC clients.
    plughost::Service* handler(plughost::Session& session) {
        auto* chosen = std::any_cast<plughost::Service*>(&session.state());
        return chosen != nullptr ? *chosen : impl_.get();
    }
    // The irc dialect for a line service's web IRC clients, made on the first one (its timer thread
    // then exists only where browsers come).
    plughost::Service* web() {
        std::lock_guard<std::mutex> lock(webMutex_);
        if (!web_) {
            web_ = chat::makeIrc(*webCommon_, webSettings_);
        }
        return web_.get();
    }

    std::unique_ptr<plughost::Service> impl_;
    std::optional<chat::Common> webCommon_;  // a line service: what its web IRC clients share with it
    chat::IrcSettings webSettings_;
    std::mutex webMutex_;
    std::unique_ptr<plughost::Service> web_;  // under webMutex_ until made; then only read
};

}  // namespace

PLUGHOST_PLUGIN(Chat, "chat", "1.0.0",
                "a chat room with nicknames and commands; speaks the Python tutorial protocol and IRC too")
