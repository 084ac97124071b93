// The classic "test server": logs every message it receives and answers each
// with a confirmation built from the `reply` template.
#include <plughost/plugin.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

enum class Field { Literal, Message, Bytes, Count, Peer, Service, Transport, Client };

struct Piece {
    Field field;
    std::string text;  // for Literal
};

// "Message received: {message}" → pieces, parsed once; `{{` and `}}` are literal braces.
std::vector<Piece> parseTemplate(const std::string& text, const plughost::Settings& settings) {
    static const std::pair<const char*, Field> kFields[] = {
        {"message", Field::Message}, {"bytes", Field::Bytes},     {"count", Field::Count},
        {"peer", Field::Peer},       {"service", Field::Service}, {"transport", Field::Transport},
        {"client", Field::Client}};
    std::vector<Piece> pieces;
    std::string literal;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
            literal += c;
            ++i;
        } else if (c == '}') {
            settings.reject(
                "reply", "unmatched '}' at offset " + std::to_string(i) + " (write }} for a literal brace)");
        } else if (c == '{') {
            const auto close = text.find('}', i);
            if (close == std::string::npos) {
                settings.reject("reply", "unclosed '{' at offset " + std::to_string(i) +
                                             " (write {{ for a literal brace)");
            }
            const std::string name = text.substr(i + 1, close - i - 1);
            Piece piece{Field::Literal, ""};
            for (const auto& [known, field] : kFields) {
                piece.field = name == known ? field : piece.field;
            }
            if (piece.field == Field::Literal) {
                settings.reject("reply", "unknown placeholder {" + name +
                                             "} (known: {message}, {bytes}, {count}, {peer}, {service})");
            }
            if (!literal.empty()) {
                pieces.push_back({Field::Literal, literal});
                literal.clear();
            }
            pieces.push_back(piece);
            i = close;
        } else {
            literal += c;
        }
    }
    if (!literal.empty()) {
        pieces.push_back({Field::Literal, literal});
    }
    return pieces;
}

class Confirm : public plughost::Service {
public:
    explicit Confirm(plughost::ServiceContext& context)
        : context_(context),
          pieces_(parseTemplate(context.settings().getString("reply", "Message received: {message}"),
                                context.settings())),
          lines_(context.settings().getChoice("framing", "lines", {"lines", "chunks"}) == "lines") {}

    plughost::Framing framing() const override {
        return lines_ ? plughost::Framing::Lines : plughost::Framing::Raw;
    }

    void onData(plughost::Session& session, std::string_view message) override {
        std::any& state = session.state();
        if (!state.has_value()) {
            state = std::uint64_t{0};
        }
        const std::uint64_t count = ++std::any_cast<std::uint64_t&>(state);
        // Raw on purpose: the Logger contract has the host escape control bytes (and
        // backslashes) in every line; escaping here too would double the backslashes.
        context_.logger().info(session.peer() + ": " + std::string(message));
        std::string reply;
        for (const auto& piece : pieces_) {
            switch (piece.field) {
                case Field::Literal:
                    reply += piece.text;
                    break;
                case Field::Message:
                    reply += message;
                    break;
                case Field::Bytes:
                    reply += std::to_string(message.size());
                    break;
                case Field::Count:
                    reply += std::to_string(count);
                    break;
                case Field::Peer:
                    reply += session.peer();
                    break;
                case Field::Service:
                    reply += context_.name();
                    break;
                case Field::Transport: {
                    const auto connection = session.connection();
                    const bool tls = connection.transport == plughost::Transport::Tls;
                    reply += connection.webSocket                               ? (tls ? "wss" : "ws")
                             : tls                                              ? "tls"
                             : connection.transport == plughost::Transport::Udp ? "udp"
                                                                                : "tcp";
                    break;
                }
                case Field::Client: {
                    // The client certificate the host verified (client_ca), else the address.
                    const auto subject = session.connection().peerSubject;
                    reply += subject.empty() ? session.peer() : std::string(subject);
                    break;
                }
            }
        }
        if (lines_) {
            reply += '\n';
        }
        session.send(reply);
    }

    void onLineTooLong(plughost::Session& session, std::size_t maxLine) override {
        context_.logger().warning(session.peer() + ": discarded a line over " + std::to_string(maxLine) +
                                  " bytes");
        session.send("error: line too long (max " + std::to_string(maxLine) + " bytes)\n");
    }

private:
    plughost::ServiceContext& context_;
    const std::vector<Piece> pieces_;
    const bool lines_;
};

}  // namespace

PLUGHOST_PLUGIN(Confirm, "confirm", "1.0.0", "logs every message and answers it with a confirmation")
