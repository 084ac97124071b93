# CPACK_PRE_BUILD_SCRIPTS: runs on CPack's staging root after the install rules.
# Debian wants man pages compressed with gzip -9, and -n keeps the package
# reproducible (no file name or time stamp in the gzip header).
file(GLOB_RECURSE staged LIST_DIRECTORIES false "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*")
foreach(page IN LISTS staged)
    if(page MATCHES "/share/man/" AND NOT page MATCHES "\\.gz$" AND NOT IS_SYMLINK "${page}")
        execute_process(COMMAND gzip -n -9 -f "${page}" RESULT_VARIABLE failed)
        if(failed)
            message(FATAL_ERROR "gzip -n -9 ${page} failed")
        endif()
    endif()
endforeach()
