# embed.cmake - turns a file into a C string constant, at build time:
#   cmake -DIN=page.html -DOUT=page.c -DNAME=symbol -P embed.cmake
# The page stays a plain HTML file to read and edit; the C is generated.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}" "/* Generated from ${src} by embed.cmake at build time: do not edit. */\nconst char ${NAME}[] = {${bytes}'\\0'};\n")
