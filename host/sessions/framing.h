#pragma once
// framing: cuts a byte stream into lines for Framing::Lines plugins. Pure and
// small so it can be unit tested and fuzzed apart from sockets.

#include <cstring>
#include <string>
#include <string_view>

namespace plughost::framing {

class LineFramer {
public:
    explicit LineFramer(std::size_t maxLine) : maxLine_(maxLine) {}

    // Feeds bytes as they arrived. Calls `line(std::string_view)` for each
    // complete line — without its "\n", or the "\r" of a "\r\n" — and
    // `tooLong()` once for each line longer than maxLine, which is discarded
    // up to its "\n". Stops, dropping the rest of `data`, as soon as
    // `keepGoing()` returns false. Lines are not copied unless they straddle calls.
    template <class Line, class TooLong, class KeepGoing>
    void feed(std::string_view data, Line&& line, TooLong&& tooLong, KeepGoing&& keepGoing) {
        while (!data.empty() && keepGoing()) {
            const auto* newline = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
            if (newline == nullptr) {
                if (discarding_) {
                    return;
                }
                // maxLine + 1 leaves room for the '\r' of a "\r\n" ending.
                if (partial_.size() + data.size() > maxLine_ + 1) {
                    partial_.clear();
                    partial_.shrink_to_fit();
                    discarding_ = true;
                    tooLong();
                    return;
                }
                partial_.append(data.data(), data.size());
                return;
            }
            const std::size_t length = static_cast<std::size_t>(newline - data.data());
            if (discarding_) {
                discarding_ = false;
            } else if (partial_.empty()) {
                emit(data.substr(0, length), line, tooLong);
            } else {
                partial_.append(data.data(), length);
                std::string whole;
                whole.swap(partial_);
                emit(whole, line, tooLong);
            }
            data.remove_prefix(length + 1);
        }
    }

    // Bytes held for a line not yet complete.
    std::size_t pending() const { return partial_.size(); }

private:
    template <class Line, class TooLong>
    void emit(std::string_view text, Line& line, TooLong& tooLong) {
        if (!text.empty() && text.back() == '\r') {
            text.remove_suffix(1);
        }
        if (text.size() > maxLine_) {
            tooLong();
        } else {
            line(text);
        }
    }

    const std::size_t maxLine_;
    std::string partial_;
    bool discarding_ = false;
};

}  // namespace plughost::framing
