#include "plugins/trust.h"

#include <pwd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace plughost::trust {

namespace {

std::string ownerProblem(const std::string& what, const std::string& path, const struct stat& st,
                         uid_t self) {
    if (st.st_uid == 0 || st.st_uid == self) {
        return "";
    }
    return what + " " + path + " belongs to " + describeOwner(st.st_uid) + ", but it must belong to root" +
           (self == 0 ? "" : " or to " + describeOwner(self) + ", the user the host runs as") +
           ": anyone else who owns it could change the code the host runs";
}

std::string writableProblem(const std::string& what, const std::string& path, const struct stat& st) {
    const char* who = (st.st_mode & S_IWGRP) && (st.st_mode & S_IWOTH) ? "group and others"
                      : (st.st_mode & S_IWGRP)                         ? "its group"
                                                                       : "others";
    return what + " " + path + " is writable by " + who + " (mode " + describeMode(st.st_mode) +
           "): anyone who can write there could change the code the host runs (chmod go-w " + path + ")";
}

}  // namespace

std::string describeOwner(uid_t uid) {
    std::vector<char> buffer(4096);
    passwd entry{};
    passwd* found = nullptr;
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
        return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
    }
    return "uid " + std::to_string(uid);
}

std::string describeMode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

std::string checkFile(const std::string& path, const struct stat& st, uid_t self) {
    if (!S_ISREG(st.st_mode)) {
        return path + " is not a regular file";
    }
    std::string problem = ownerProblem("plugin", path, st, self);
    if (problem.empty() && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        problem = writableProblem("plugin", path, st);
    }
    return problem;
}

std::string checkFolders(const std::string& dir, uid_t self) {
    std::string path = dir;
    bool pluginFolder = true;
    while (true) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            return "cannot examine folder " + path + ": " + std::strerror(errno);
        }
        std::string problem = ownerProblem("folder", path, st, self);
        if (problem.empty() && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
            (pluginFolder || !(st.st_mode & S_ISVTX))) {
            problem = writableProblem(pluginFolder ? "plugin folder" : "folder", path, st);
        }
        if (!problem.empty() || path == "/") {
            return problem;
        }
        const auto slash = path.find_last_of('/');
        path = slash == 0 ? "/" : path.substr(0, slash);
        pluginFolder = false;
    }
}

}  // namespace plughost::trust
