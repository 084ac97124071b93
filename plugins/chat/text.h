#pragma once
// Text helpers shared by the dialects: cleaning what people type, case
// mapping, and the name rules.
#include <string>
#include <string_view>

namespace chat {

// Removes control characters (C0 but tab, DEL, C1) and replaces ill-formed
// UTF-8 with U+FFFD, one per maximal subpart (Unicode table 3-7).
std::string cleanText(std::string_view in);

// RFC 1459 case mapping: ASCII letters, and []\~ as the upper case of {}|^.
// Nicknames and room names of every dialect are compared folded this way.
std::string fold(std::string_view text);

std::string trimmed(std::string_view text);

// The longest prefix of `text` of at most `max` bytes that does not cut a
// UTF-8 character.
std::string_view cutUtf8(std::string_view text, std::size_t max);

// Room names are shared by every dialect: "lobby" in line and seed is
// "#lobby" in irc. Returns the name without '#', or "" when it is not valid.
std::string roomName(std::string_view typed);

}  // namespace chat
