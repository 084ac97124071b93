#include "plugins.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <Poco/DirectoryIterator.h>
#include <Poco/File.h>
#include <Poco/Path.h>
#include <Poco/TemporaryFile.h>

namespace plughost::plugins {

namespace {

using EntryPoint = const PluginDescriptor* (*)();

bool validName(const char* name) {
    if (name == nullptr || *name == '\0') {
        return false;
    }
    const std::string text(name);
    return text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
           });
}

// dlopen() hands back the already-loaded handle for a path it has seen, even
// if the file was replaced since. Loading from a uniquely named copy (deleted
// right after loading; the mapping stays) makes a rebuilt plugin load as new code.
std::string privateCopy(const std::string& bytes) {
    static std::atomic<unsigned> counter{0};
    const std::string path = Poco::Path::temp() + "plughost-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++) + ".so";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
        throw PluginError("cannot write a private copy to " + path);
    }
    return path;
}

}  // namespace

namespace {

std::string readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw PluginError(path + ": cannot read the file");
    }
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

}  // namespace

std::uint64_t Library::hash(const std::string& bytes) {
    std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a: cheap, and only compared with itself
    for (unsigned char byte : bytes) {
        hash = (hash ^ byte) * 1099511628211ULL;
    }
    return hash;
}

std::shared_ptr<Library> Library::open(const std::string& path) { return open(path, readBytes(path)); }

std::shared_ptr<Library> Library::open(const std::string& path, const std::string& bytes) {
    if (bytes.size() < 4 || bytes.compare(0, 4, "\x7f" "ELF") != 0) {
        throw PluginError(path + ": not a shared library (no ELF header)");
    }

    std::shared_ptr<Library> library(new Library());  // private constructor: make_shared cannot reach it
    library->path_ = path;
    library->contentHash_ = hash(bytes);
    const std::string copy = privateCopy(bytes);
    try {
        library->library_.load(copy, Poco::SharedLibrary::SHLIB_LOCAL);
    } catch (const Poco::Exception& error) {
        ::unlink(copy.c_str());
        // dlerror() names the private copy; the operator knows the file by its real path.
        std::string detail = error.message();
        const auto copyAt = detail.find(copy + ": ");
        if (copyAt != std::string::npos) {
            detail.erase(copyAt, copy.size() + 2);
        }
        throw PluginError(path + ": cannot load: " + detail);
    }
    ::unlink(copy.c_str());

    if (!library->library_.hasSymbol(PLUGHOST_ENTRY_SYMBOL)) {
        throw PluginError(path + ": not a plughost plugin (no " PLUGHOST_ENTRY_SYMBOL " entry point)");
    }
    auto entry = reinterpret_cast<EntryPoint>(library->library_.getSymbol(PLUGHOST_ENTRY_SYMBOL));
    const PluginDescriptor* descriptor = entry();
    if (descriptor == nullptr) {
        throw PluginError(path + ": the entry point returned no descriptor");
    }
    // The ABI number is the only field every ABI version shares; nothing else is read before it matches.
    if (descriptor->abi != kAbiVersion) {
        throw PluginError(path + ": built against plugin ABI " + std::to_string(descriptor->abi) +
                          ", but this host speaks ABI " + std::to_string(kAbiVersion) + " (" +
                          (descriptor->abi < kAbiVersion ? "too old" : "too new") + "); rebuild it against this SDK");
    }
    if (!validName(descriptor->name)) {
        throw PluginError(path + ": the descriptor's name is missing or not 1-64 letters, digits, '_', '-', '.'");
    }
    if (descriptor->version == nullptr || descriptor->description == nullptr || descriptor->create == nullptr) {
        throw PluginError(path + ": the descriptor lacks a version, description or factory");
    }
    library->descriptor_ = descriptor;
    return library;
}

Library::~Library() {
    if (library_.isLoaded()) {
        library_.unload();
    }
}

Catalog Catalog::scan(const std::string& dir, const Catalog* previous) {
    Catalog catalog;
    catalog.dir_ = dir;
    std::vector<std::string> paths;
    try {
        for (Poco::DirectoryIterator it(dir), end; it != end; ++it) {
            if (it.path().getExtension() == "so" && !it->isDirectory()) {
                paths.push_back(it.path().toString());
            }
        }
    } catch (const Poco::Exception& error) {
        catalog.dirProblem_ = "cannot read the plugin folder " + dir + ": " + error.displayText();
        return catalog;
    }
    std::sort(paths.begin(), paths.end());

    std::map<std::string, std::size_t> byName;
    for (const auto& path : paths) {
        Entry entry;
        entry.path = path;
        try {
            const std::string bytes = readBytes(path);
            entry.library = previous ? previous->reusable(path, Library::hash(bytes)) : nullptr;
            if (!entry.library) {
                entry.library = Library::open(path, bytes);
            }
            const PluginDescriptor& descriptor = entry.library->descriptor();
            entry.name = descriptor.name;
            entry.version = descriptor.version;
            entry.description = descriptor.description;
            entry.abi = descriptor.abi;
        } catch (const PluginError& error) {
            entry.rejection = error.what();
        }
        if (entry.loaded()) {
            const auto [it, inserted] = byName.emplace(entry.name, catalog.entries_.size());
            if (!inserted) {
                Entry& first = catalog.entries_[it->second];
                const std::string clash = "plugin name '" + entry.name + "' is claimed by both " + first.path +
                                          " and " + entry.path;
                first.rejection = clash;
                first.library.reset();
                entry.rejection = clash;
                entry.library.reset();
            }
        }
        catalog.entries_.push_back(std::move(entry));
    }
    return catalog;
}

std::shared_ptr<Library> Catalog::reusable(const std::string& path, std::uint64_t contentHash) const {
    for (const auto& entry : entries_) {
        if (entry.path == path && entry.library && entry.library->contentHash() == contentHash) {
            return entry.library;
        }
    }
    return nullptr;
}

std::shared_ptr<Library> Catalog::find(const std::string& name, std::string& why) const {
    if (!dirProblem_.empty()) {
        why = dirProblem_;
        return nullptr;
    }
    std::string available;
    for (const auto& entry : entries_) {
        if (entry.name == name) {
            if (entry.loaded()) {
                return entry.library;
            }
            why = entry.rejection;
            return nullptr;
        }
        if (entry.loaded()) {
            available += (available.empty() ? "" : ", ") + entry.name;
        }
    }
    // A rejected file has no trusted name; its file name is the best guess of what it meant to be.
    for (const auto& entry : entries_) {
        if (!entry.loaded() && Poco::Path(entry.path).getBaseName() == name) {
            why = entry.rejection;
            return nullptr;
        }
    }
    why = "no plugin named '" + name + "' in " + dir_ + " (available: " + (available.empty() ? "none" : available) + ")";
    return nullptr;
}

}  // namespace plughost::plugins
