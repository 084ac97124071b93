#pragma once
// trust: who may have written a plugin before the host runs its code. The rule
// is sshd's StrictModes: the file, and every folder from the plugin folder up
// to "/", belong to root or to the user the host runs as, and nobody else can
// write to them. A folder above the plugin folder may be writable by others
// when its sticky bit is set (like /tmp): nobody can replace another user's
// entries there. The plugin folder itself may not be writable by others at
// all, sticky or not, or anyone could add a plugin.

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

namespace plughost::trust {

// Empty when `st`, the status of `path`, passes the rule for a plugin file
// (a regular file), else why not, naming the path, owner and mode.
std::string checkFile(const std::string& path, const struct stat& st, uid_t self);
// Empty when `dir` (an absolute, canonical folder) and every folder above it
// pass the rule, else why not.
std::string checkFolders(const std::string& dir, uid_t self);

// "root (uid 0)", "nobody (uid 65534)", "uid 4242".
std::string describeOwner(uid_t uid);
// "0755", "1777".
std::string describeMode(mode_t mode);

}  // namespace plughost::trust
