// The line framer on its own: every way a stream can be cut.
#include "sessions/framing.h"

#include <gtest/gtest.h>

namespace {

using plughost::framing::LineFramer;

struct Collected {
    std::vector<std::string> lines;
    int tooLong = 0;
};

Collected feedAll(LineFramer& framer, const std::vector<std::string>& chunks, int stopAfter = -1) {
    Collected out;
    for (const auto& chunk : chunks) {
        framer.feed(
            chunk, [&](std::string_view line) { out.lines.emplace_back(line); }, [&] { ++out.tooLong; },
            [&] { return stopAfter < 0 || static_cast<int>(out.lines.size()) < stopAfter; });
    }
    return out;
}

TEST(LineFramer, SplitsLinesAndStripsCrLf) {
    LineFramer framer(100);
    const auto out = feedAll(framer, {"one\ntwo\r\nthree\n\n"});
    EXPECT_EQ(out.lines, (std::vector<std::string>{"one", "two", "three", ""}));
    EXPECT_EQ(out.tooLong, 0);
}

TEST(LineFramer, JoinsLinesAcrossChunks) {
    LineFramer framer(100);
    const auto out = feedAll(framer, {"he", "llo wo", "rld\r", "\nnext", "\n"});
    EXPECT_EQ(out.lines, (std::vector<std::string>{"hello world", "next"}));
    EXPECT_EQ(framer.pending(), 0u);
}

TEST(LineFramer, KeepsAnUnfinishedLine) {
    LineFramer framer(100);
    const auto out = feedAll(framer, {"done\npart"});
    EXPECT_EQ(out.lines, (std::vector<std::string>{"done"}));
    EXPECT_EQ(framer.pending(), 4u);
}

TEST(LineFramer, ExactlyMaxLineIsFineOneMoreIsTooLong) {
    LineFramer framer(5);
    const auto out = feedAll(framer, {"12345\n123456\n12345\r\nok\n"});
    EXPECT_EQ(out.lines, (std::vector<std::string>{"12345", "12345", "ok"}));
    EXPECT_EQ(out.tooLong, 1);
}

TEST(LineFramer, OverLongLineAcrossChunksIsReportedOnceAndDiscarded) {
    LineFramer framer(5);
    const auto out = feedAll(framer, {"abc", "defgh", "ijklmnop", "qrs\nafter\n"});
    EXPECT_EQ(out.tooLong, 1);
    EXPECT_EQ(out.lines, (std::vector<std::string>{"after"}));
    EXPECT_EQ(framer.pending(), 0u);
}

TEST(LineFramer, MegabyteWithoutNewlineHoldsAtMostMaxLine) {
    LineFramer framer(1024);
    Collected out;
    for (int i = 0; i < 16; ++i) {
        out = feedAll(framer, {std::string(65536, 'x')});
        EXPECT_LE(framer.pending(), 1025u);
    }
    const auto end = feedAll(framer, {"\nfine\n"});
    EXPECT_EQ(end.lines, (std::vector<std::string>{"fine"}));
}

TEST(LineFramer, StopsWhenTheSessionCloses) {
    LineFramer framer(100);
    const auto out = feedAll(framer, {"a\nb\nc\n"}, 1);
    EXPECT_EQ(out.lines, (std::vector<std::string>{"a"}));
}

TEST(LineFramer, BinaryBytesPassThrough) {
    LineFramer framer(100);
    const auto out = feedAll(framer, {std::string("a\0b\r\xff\n", 6)});
    ASSERT_EQ(out.lines.size(), 1u);
    EXPECT_EQ(out.lines[0], std::string("a\0b\r\xff", 5));  // only a final "\r" is an ending
}

}  // namespace
