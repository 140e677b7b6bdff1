# fault_frame.awk — prints the innermost frame of the first stack in a
# sanitizer or libFuzzer report that is not the sanitizer's, libFuzzer's or
# libc's own: the code where the fault was. tests/fuzz/run decides with it
# whether a crash lies in libhdf5 or in nabla; tests/fuzz/reports/ holds
# the reports it is checked on.
/^ *#[0-9]+ 0x/ {
    if (done)
        next
    if ($0 ~ /in (__interceptor_|__asan|__sanitizer|__ubsan|__lsan|fuzzer::|__GI_|__libc_|__mem|__str|raise|abort|__pthread_kill)/)
        next
    if ($0 ~ /(libc\.so|sysdeps|libclang_rt|compiler-rt|libstdc\+\+)/)
        next
    print
    done = 1
}
