# find_package(plughost) for out-of-tree plugins: gives plughost::sdk and plughost_add_plugin().
include(${CMAKE_CURRENT_LIST_DIR}/plughostTargets.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/plughost-plugin.cmake)
