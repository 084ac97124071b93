// The chat plugin: rooms with nicknames, spoken in three dialects. `line` is
// for people on nc/telnet and bots, `seed` is wire-compatible with the classic
// Python tutorial client, `irc` is a small IRC server for IRC clients.
// Services naming the same `network:` share nicknames and rooms (room.h).
#include <plughost/plugin.h>

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
        impl_ = dialect == "seed"  ? chat::makeSeed(context, std::move(common))
                : dialect == "irc" ? chat::makeIrc(context, std::move(common))
                                   : chat::makeLine(context, std::move(common));
    }

    plughost::Framing framing() const override { return impl_->framing(); }
    void onOpen(plughost::Session& session) override { impl_->onOpen(session); }
    void onData(plughost::Session& session, std::string_view data) override { impl_->onData(session, data); }
    void onLineTooLong(plughost::Session& session, std::size_t max) override {
        impl_->onLineTooLong(session, max);
    }
    void onClose(plughost::Session& session, plughost::CloseReason reason) override {
        impl_->onClose(session, reason);
    }
    void onStopping() override { impl_->onStopping(); }

private:
    std::unique_ptr<plughost::Service> impl_;
};

}  // namespace

PLUGHOST_PLUGIN(Chat, "chat", "1.0.0",
                "a chat room with nicknames and commands; speaks the Python tutorial protocol and IRC too")
