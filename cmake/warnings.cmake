# warnings.cmake - the one list of warning flags (STYLE.md, habit 1).
#
# Every target of the project (library, tests, bench, tools, examples) calls
# hm_warnings(<target>). HM_WERROR (on by default) turns them into errors.
# Only the C compiler is used for targets; the C++ header check in tests/meta
# uses its own short list (-Wall -Wextra -Werror).

set(HM_WARNINGS
	-Wall
	-Wextra
	-Wshadow
	-Wstrict-prototypes
	-Wmissing-prototypes
	-Wpointer-arith
	-Wcast-align
	-Wwrite-strings
	-Wundef
	-Wformat=2
	-Wimplicit-fallthrough
	-Wvla
)

function(hm_warnings target)
	target_compile_options(${target} PRIVATE
		$<$<COMPILE_LANGUAGE:C>:${HM_WARNINGS}>
		$<$<AND:$<COMPILE_LANGUAGE:C>,$<BOOL:${HM_WERROR}>>:-Werror>)
endfunction()
