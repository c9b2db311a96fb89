;; A core Wasm module as TinyGo and older Spin SDKs build them: the world it implements
;; (`fermyon:spin/inbound-http`, importing `fermyon:spin/variables@2.0.0`) rides in a
;; component-type section, and it imports WASI preview 1 (`fd_write`), which only the
;; preview 1 adapter provides. It prints `core module served <uri>` to stdout and
;; answers `<message variable> from a core module`.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "fermyon:spin/variables@2.0.0" "get" (func $var_get (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "core module served ")
  (data (i32.const 1060) "message")
  (data (i32.const 1070) " from a core module\n")
  (data (i32.const 1100) "x-world")
  (data (i32.const 1110) "core-module")
INCLUDE_RUNTIME
  ;; Prints `core module served <uri>\n`, assembled at 3072, with one fd_write of one
  ;; iovec (a preview 1 write may be short after the first buffer).
  (func $print (param $uptr i32) (param $ulen i32)
    (memory.copy (i32.const 3072) (i32.const 1024) (i32.const 19))
    (memory.copy (i32.const 3091) (local.get $uptr) (local.get $ulen))
    (i32.store8 (i32.add (i32.const 3091) (local.get $ulen)) (i32.const 10))
    (i32.store (i32.const 2048) (i32.const 3072))
    (i32.store (i32.const 2052) (i32.add (local.get $ulen) (i32.const 20)))
    (drop (call $fd_write (i32.const 1) (i32.const 2048) (i32.const 1) (i32.const 2080))))
  (func (export "fermyon:spin/inbound-http#handle-request")
    (param $method i32) (param $uptr i32) (param $ulen i32) (param $hptr i32) (param $hlen i32)
    (param $pptr i32) (param $plen i32) (param $bdisc i32) (param $bptr i32) (param $blen i32)
    (result i32)
    (call $print (local.get $uptr) (local.get $ulen))
    (call $var_get (i32.const 1060) (i32.const 7) (i32.const 256))
    (if (i32.eqz (i32.load8_u (i32.const 256)))
      (then (call $emit (i32.load (i32.const 260)) (i32.load (i32.const 264)))))
    (call $emit (i32.const 1070) (i32.const 20))
    ;; The response record at 512: status 200, one header, the buffer as body.
    (i32.store16 (i32.const 512) (i32.const 200))
    (i32.store8 (i32.const 516) (i32.const 1))
    (i32.store (i32.const 520) (i32.const 600))
    (i32.store (i32.const 524) (i32.const 1))
    (i32.store (i32.const 600) (i32.const 1100))
    (i32.store (i32.const 604) (i32.const 7))
    (i32.store (i32.const 608) (i32.const 1110))
    (i32.store (i32.const 612) (i32.const 11))
    (i32.store8 (i32.const 528) (i32.const 1))
    (i32.store (i32.const 532) (i32.const 8192))
    (i32.store (i32.const 536) (i32.sub (global.get $out) (i32.const 8192)))
    (i32.const 512))
)
