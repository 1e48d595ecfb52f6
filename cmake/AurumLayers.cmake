# AurumLayers.cmake — the library's layers: one object library per folder of src/, each compiled
# with only the include paths it may use, so an include across a boundary does not build.
#
# Owns: au_layer(), au_layer_exception(), au_layer_check_complete() and the global properties
# AU_LAYERS (the layer names, lowest first) and AU_LAYER_FOLDERS (their folders, same order).
# Relies on: internal headers being included by their folder ("core/internal.h"), never by a
# path that climbs out of the including file's folder (tests/boundary checks that).
# Invariants: every .c under src/ belongs to exactly one layer; a layer's include path is
# include/ plus its own generated include tree, nothing else (never src/ itself).
#
# Include trees: ${PROJECT_BINARY_DIR}/layers/<name>/ holds one symlink per folder the layer may
# include ("util" -> src/util, ...) and, for single headers, a symlink per file
# ("testkit/sim_internal.h"). The tree is the layer's only include root besides include/, so
# "net/net.h" does not resolve in a layer whose tree has no "net" entry. The trees are remade at
# every configure; they link into src/, so edits need no reconfigure.

define_property(GLOBAL PROPERTY AU_LAYERS
  BRIEF_DOCS "aurum layers, lowest first" FULL_DOCS "Names given to au_layer(), in order.")
define_property(GLOBAL PROPERTY AU_LAYER_FOLDERS
  BRIEF_DOCS "src/ folders of the aurum layers" FULL_DOCS "Folders of au_layer(), in order.")
define_property(TARGET PROPERTY AU_LAYER_TREE
  BRIEF_DOCS "include tree of a layer" FULL_DOCS "The generated include root, or empty.")
define_property(TARGET PROPERTY AU_LAYER_SEES
  BRIEF_DOCS "folders a layer may include" FULL_DOCS "The SEES folders of au_layer().")
define_property(TARGET PROPERTY AU_LAYER_SEES_FILES
  BRIEF_DOCS "single headers a layer may include" FULL_DOCS "The SEES_FILES of au_layer().")

# au_layer(<name> [DIR <folder>] [SEES <folder>...] [SEES_FILES <header>...] [LIBS <target>...])
#   Object library au_<name> built from src/<folder>/*.c (folder defaults to <name>; not
#   recursive, so src/devices/server and src/devices/client can be layers of their own). It sees
#   include/ always, and "<folder>/..." headers only of the SEES folders and the SEES_FILES
#   headers (paths under src/, e.g. testkit/sim_internal.h). LIBS: third-party targets whose
#   headers it uses. Compiled with -fvisibility=hidden: only AU_API declarations are exported.
function(au_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 L "" "DIR" "SEES;SEES_FILES;LIBS")
  if(L_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "au_layer(${name}): unknown arguments ${L_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT L_DIR)
    set(L_DIR ${name})
  endif()
  set(src ${PROJECT_SOURCE_DIR}/src)
  if(NOT IS_DIRECTORY ${src}/${L_DIR})
    message(FATAL_ERROR "au_layer(${name}): src/${L_DIR} does not exist")
  endif()

  # The include tree: a fresh folder of symlinks into src/ (REMOVE_RECURSE removes a symlink,
  # never what it points to).
  set(tree ${PROJECT_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${tree})
  foreach(dir IN LISTS L_SEES)
    if(NOT IS_DIRECTORY ${src}/${dir})
      message(FATAL_ERROR "au_layer(${name}): SEES ${dir}: src/${dir} does not exist")
    endif()
    get_filename_component(parent ${tree}/${dir} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${src}/${dir} ${tree}/${dir} SYMBOLIC)
  endforeach()
  foreach(hdr IN LISTS L_SEES_FILES)
    if(NOT EXISTS ${src}/${hdr})
      message(FATAL_ERROR "au_layer(${name}): SEES_FILES ${hdr}: src/${hdr} does not exist")
    endif()
    if(EXISTS ${tree}/${hdr})
      continue() # already reachable through a SEES folder
    endif()
    get_filename_component(parent ${tree}/${hdr} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${src}/${hdr} ${tree}/${hdr} SYMBOLIC)
  endforeach()

  file(GLOB sources CONFIGURE_DEPENDS ${src}/${L_DIR}/*.c)
  if(NOT sources)
    message(FATAL_ERROR "au_layer(${name}): src/${L_DIR} has no .c file")
  endif()
  add_library(au_${name} OBJECT ${sources})
  target_include_directories(au_${name} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  if(L_SEES OR L_SEES_FILES)
    target_include_directories(au_${name} PRIVATE ${tree})
    set_target_properties(au_${name} PROPERTIES AU_LAYER_TREE ${tree})
  endif()
  if(L_LIBS)
    target_link_libraries(au_${name} PRIVATE ${L_LIBS})
  endif()
  set_target_properties(au_${name} PROPERTIES C_VISIBILITY_PRESET hidden
    AU_LAYER_SEES "${L_SEES}" AU_LAYER_SEES_FILES "${L_SEES_FILES}")

  set_property(GLOBAL APPEND PROPERTY AU_LAYERS ${name})
  set_property(GLOBAL APPEND PROPERTY AU_LAYER_FOLDERS ${L_DIR})
endfunction()

# au_layer_exception(<name> FILES <file>... LIKE <other>)
#   Compiles the given files of layer <name> (names inside its folder) with the include tree of
#   layer <other> as well: a named, file-by-file exception to <name>'s boundary. Every use must
#   say why and when it goes away.
function(au_layer_exception name)
  cmake_parse_arguments(PARSE_ARGV 1 E "" "LIKE" "FILES")
  if(E_UNPARSED_ARGUMENTS OR NOT E_FILES OR NOT E_LIKE)
    message(FATAL_ERROR "au_layer_exception(${name} FILES <file>... LIKE <layer>)")
  endif()
  get_target_property(tree au_${E_LIKE} AU_LAYER_TREE)
  if(NOT tree)
    message(FATAL_ERROR "au_layer_exception(${name}): layer ${E_LIKE} sees include/ only")
  endif()
  get_property(layers GLOBAL PROPERTY AU_LAYERS)
  get_property(folders GLOBAL PROPERTY AU_LAYER_FOLDERS)
  list(FIND layers ${name} i)
  list(GET folders ${i} dir)
  foreach(f IN LISTS E_FILES)
    set(path ${PROJECT_SOURCE_DIR}/src/${dir}/${f})
    if(NOT EXISTS ${path})
      message(FATAL_ERROR "au_layer_exception(${name}): src/${dir}/${f} does not exist")
    endif()
    set_property(SOURCE ${path} TARGET_DIRECTORY au_${name}
                 APPEND PROPERTY INCLUDE_DIRECTORIES ${tree})
  endforeach()
endfunction()

# au_layer_check_complete(<sources>): fails the configure if a .c file of <sources> (every .c
# under src/) belongs to no layer, so nothing is built outside the boundaries, and sets
# AU_LAYER_OBJECTS in the caller to the layers' objects, for the libraries.
function(au_layer_check_complete)
  get_property(layers GLOBAL PROPERTY AU_LAYERS)
  set(covered)
  set(objects)
  foreach(name IN LISTS layers)
    get_target_property(s au_${name} SOURCES)
    list(APPEND covered ${s})
    list(APPEND objects $<TARGET_OBJECTS:au_${name}>)
  endforeach()
  foreach(f IN LISTS ARGN)
    if(NOT f IN_LIST covered)
      file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${f})
      message(FATAL_ERROR "${rel} belongs to no layer: add its folder with au_layer() in "
                          "CMakeLists.txt")
    endif()
  endforeach()
  set(AU_LAYER_OBJECTS ${objects} PARENT_SCOPE)
endfunction()
