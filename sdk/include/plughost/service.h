#pragma once
// The callbacks a C++ plugin implements for one configured service.

#include <plughost/context.h>
#include <plughost/session.h>

#include <cstddef>
#include <string_view>

namespace plughost {

// How the host cuts the byte stream before calling onData.
enum class Framing : std::int32_t {
    Raw = PLUGHOST_FRAMING_RAW,  // every chunk as it arrives from the socket
    Lines =
        PLUGHOST_FRAMING_LINES,  // one line at a time, without its "\n" (a "\r\n" ending loses its "\r" too);
                                 // a line longer than max_line goes to onLineTooLong and is discarded
};

// One instance per configured service, created by the plugin's factory.
//
// Thread contract: the callbacks of one session run on that session's I/O
// thread and never concurrently with each other; callbacks of different
// sessions may run concurrently, so state shared between sessions needs a
// lock. Callbacks must not block: other sessions share the thread.
// An exception escaping a callback closes that session only (CloseReason::Error).
class Service {
public:
    virtual ~Service() = default;

    // Asked once, right after the factory returns.
    virtual Framing framing() const { return Framing::Raw; }

    // A client connected. Send a greeting here if the protocol has one.
    virtual void onOpen(Session& session) { (void)session; }

    // Bytes arrived: a chunk (Raw) or one line (Lines).
    virtual void onData(Session& session, std::string_view data) = 0;

    // Lines framing only: a line grew past max_line; it is discarded and the
    // session goes on.
    virtual void onLineTooLong(Session& session, std::size_t maxLine) {
        (void)session;
        (void)maxLine;
    }

    // The session ended. It is the last callback for it; send() now does nothing.
    virtual void onClose(Session& session, CloseReason reason) {
        (void)session;
        (void)reason;
    }

    // The host begins to stop (or drops this service on reload): sessions will
    // be closed after the drain period. Called once, from a host thread.
    virtual void onStopping() {}
};

}  // namespace plughost
