#pragma once
// schema: the keys the config reader accepts, section by section. The reader
// rejects every other key with this list, and the drift test holds the man page
// plughost.yaml(5) to it: one list, so the documentation cannot drift from the reader.

#include <string>
#include <vector>

namespace plughost::config {

enum class Section {
    Top,        // the top level of the file
    Admin,      // admin:
    Limits,     // defaults:, and every service beside its own keys
    Service,    // services.NAME: the service's own keys
    Listen,     // an entry of a service's listen: written as a map
    Tls,        // a listen entry's tls:
    WebSocket,  // a listen entry's websocket:
};

// The keys of one section, in the order "unknown key (expected one of: ...)" lists them.
const std::vector<std::string>& keysOf(Section section);

}  // namespace plughost::config
