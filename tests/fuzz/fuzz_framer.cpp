// libFuzzer: the line framer gives the same lines however the stream is cut,
// never a line longer than max_line, never a "\n" inside one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sessions/framing.h"

namespace {

struct Result {
    std::vector<std::string> lines;
    int tooLong = 0;
};

Result run(std::size_t maxLine, std::string_view stream, const std::vector<std::size_t>& cuts) {
    plughost::framing::LineFramer framer(maxLine);
    Result result;
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        cut = std::min(cut, stream.size() - at);
        framer.feed(
            stream.substr(at, cut), [&](std::string_view line) { result.lines.emplace_back(line); },
            [&] { ++result.tooLong; }, [] { return true; });
        at += cut;
    }
    framer.feed(
        stream.substr(at), [&](std::string_view line) { result.lines.emplace_back(line); },
        [&] { ++result.tooLong; }, [] { return true; });
    return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const std::size_t maxLine = 1 + data[0] % 64;
    const std::size_t cutCount = data[1] % 16;
    if (size < 2 + cutCount) {
        return 0;
    }
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i < cutCount; ++i) {
        cuts.push_back(data[2 + i] % 32);
    }
    const std::string_view stream(reinterpret_cast<const char*>(data) + 2 + cutCount, size - 2 - cutCount);
    const Result whole = run(maxLine, stream, {});
    const Result cut = run(maxLine, stream, cuts);
    if (whole.lines != cut.lines || whole.tooLong != cut.tooLong) {
        __builtin_trap();
    }
    for (const auto& line : whole.lines) {
        if (line.size() > maxLine || line.find('\n') != std::string::npos) {
            __builtin_trap();
        }
    }
    return 0;
}
