;; A component in Spin's `fermyon:spin/inbound-http` world. MODE 0 answers with the
;; request URI and an `x-world` header; MODE 1 fetches the URL given as the request
;; body through `fermyon:spin/http` and relays the answer (502 and the error code if
;; the runtime refuses it).
(module
  (import "fermyon:spin/http" "send-request" (func $send (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") 2)
  (global $mode i32 (i32.const MODE))
  (data (i32.const 1024) "inbound-http says: ")
  (data (i32.const 1100) "x-world")
  (data (i32.const 1110) "inbound-http")
  (data (i32.const 1130) "upstream: ")
  (data (i32.const 1150) "error ")
  (data (i32.const 1160) "0123456789")
INCLUDE_RUNTIME
  ;; Writes the response record at 512 with the buffer as body.
  (func $response (param $status i32) (result i32)
    (i32.store16 (i32.const 512) (local.get $status))
    (i32.store8 (i32.const 516) (i32.const 1))
    (i32.store (i32.const 520) (i32.const 600))
    (i32.store (i32.const 524) (i32.const 1))
    (i32.store (i32.const 600) (i32.const 1100))
    (i32.store (i32.const 604) (i32.const 7))
    (i32.store (i32.const 608) (i32.const 1110))
    (i32.store (i32.const 612) (i32.const 12))
    (i32.store8 (i32.const 528) (i32.const 1))
    (i32.store (i32.const 532) (i32.const 8192))
    (i32.store (i32.const 536) (i32.sub (global.get $out) (i32.const 8192)))
    (i32.const 512))
  (func (export "fermyon:spin/inbound-http#handle-request")
    (param $method i32) (param $uptr i32) (param $ulen i32) (param $hptr i32) (param $hlen i32)
    (param $pptr i32) (param $plen i32) (param $bdisc i32) (param $bptr i32) (param $blen i32)
    (result i32)
    (if (i32.eqz (global.get $mode)) (then
      (call $emit (i32.const 1024) (i32.const 19))
      (call $emit (local.get $uptr) (local.get $ulen))
      (return (call $response (i32.const 200)))))
    (call $send (i32.const 0) (local.get $bptr) (local.get $blen)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 256))
    (if (i32.eqz (i32.load8_u (i32.const 256))) (then
      (call $emit (i32.const 1130) (i32.const 10))
      (if (i32.load8_u (i32.const 276))
        (then (call $emit (i32.load (i32.const 280)) (i32.load (i32.const 284)))))
      (return (call $response (i32.const 200)))))
    (call $emit (i32.const 1150) (i32.const 6))
    (call $emit (i32.add (i32.const 1160) (i32.load8_u (i32.const 260))) (i32.const 1))
    (call $response (i32.const 502)))
)
