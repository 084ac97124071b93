# plughost_add_plugin(NAME source...) builds NAME.so: a module with hidden
# visibility whose only export is the entry point PLUGHOST_PLUGIN() defines.
function(plughost_add_plugin name)
    add_library(${name} MODULE ${ARGN})
    target_link_libraries(${name} PRIVATE plughost::sdk)
    set_target_properties(${name} PROPERTIES
        PREFIX ""
        CXX_STANDARD 17
        CXX_STANDARD_REQUIRED ON
        CXX_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON)
    if(PLUGHOST_PLUGIN_OUTPUT_DIR)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${PLUGHOST_PLUGIN_OUTPUT_DIR})
    endif()
    if(PLUGHOST_PLUGIN_INSTALL_DIR)
        install(TARGETS ${name} LIBRARY DESTINATION ${PLUGHOST_PLUGIN_INSTALL_DIR})
    endif()
endfunction()
