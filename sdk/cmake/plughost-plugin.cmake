# plughost_add_plugin(NAME source...) builds NAME.so from C++ (C++17, against
# <plughost/plugin.h>) or C (C11, against <plughost/abi.h>) sources: a module
# with hidden visibility whose only exports are the two data symbols abi.h
# describes (plughost-plugin.map), linked with -z defs so that a symbol nobody provides is an error
# at build time (the host would refuse the plugin for it at load time).
function(plughost_add_plugin name)
    add_library(${name} MODULE ${ARGN})
    target_link_libraries(${name} PRIVATE plughost::sdk)
    # libc as a DT_NEEDED entry even for a plugin that calls none of it and with
    # --as-needed toolchains: Debian's lintian rejects a shared object without it
    # (library-not-linked-against-libc).
    target_link_libraries(${name} PRIVATE -Wl,--push-state,--no-as-needed c -Wl,--pop-state)
    set_target_properties(${name} PROPERTIES
        PREFIX ""
        C_STANDARD 11
        C_STANDARD_REQUIRED ON
        C_VISIBILITY_PRESET hidden
        CXX_STANDARD 17
        CXX_STANDARD_REQUIRED ON
        CXX_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON)
    # clang's sanitizer runtimes live in the executable, so a fuzzing build's
    # plugins legitimately leave __asan_* and __sanitizer_* symbols to the host.
    if(NOT PLUGHOST_FUZZ)
        target_link_options(${name} PRIVATE -Wl,-z,defs)
    endif()
    set(exports ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/plughost-plugin.map)
    target_link_options(${name} PRIVATE -Wl,--version-script=${exports})
    set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${exports})
    if(PLUGHOST_PLUGIN_OUTPUT_DIR)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PLUGHOST_PLUGIN_OUTPUT_DIR})
    endif()
    if(PLUGHOST_PLUGIN_INSTALL_DIR)
        install(TARGETS ${name} LIBRARY DESTINATION ${PLUGHOST_PLUGIN_INSTALL_DIR})
    endif()
endfunction()
