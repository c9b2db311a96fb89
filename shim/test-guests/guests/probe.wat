;; A wasi:http 0.2 component whose behaviour is chosen by MODE:
;;   0 echo: its NAME, Spin's routing headers and the `message` variable
;;   1 trap   2 endless loop   3 allocate until refused, then abort
;;   4 stream three chunks 300 ms apart   5 key-value: append "x" to key `count`
;;   6 hello: "Hello, world!"
;;   7 print one 100 MiB line to stdout (25,600 writes of 4 KiB, then a newline)
;;   8 print 1,000 lines of 4 KiB to stdout
;;   9 open the `default` store until refused (at most 100 times): one "x" per store
;;     opened, then a newline if the refusal was store-table-full
;;  10 open a Redis connection to the address in the `message` variable until refused
;;     (at most 100 times): one "x" per handle, then a newline if the refusal was
;;     too-many-connections
;;  11 keep as many `fields` resources as the `message` variable says (decimal), then
;;     answer "Hello, world!"
(module
  (import "wasi:http/types@0.2.12" "[constructor]fields" (func $fields_new (result i32)))
  (import "wasi:http/types@0.2.12" "[method]fields.get" (func $fields_get (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]incoming-request.headers" (func $req_headers (param i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[static]response-outparam.set" (func $outparam_set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[constructor]outgoing-response" (func $resp_new (param i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-response.set-status-code" (func $resp_status (param i32 i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-response.body" (func $resp_body (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[static]outgoing-body.finish" (func $body_finish (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.12" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.12" "[resource-drop]output-stream" (func $drop_stream (param i32)))
  (import "wasi:cli/stdout@0.2.12" "get-stdout" (func $get_stdout (result i32)))
  (import "wasi:clocks/monotonic-clock@0.2.12" "subscribe-duration" (func $subscribe (param i64) (result i32)))
  (import "wasi:io/poll@0.2.12" "[method]pollable.block" (func $block (param i32)))
  (import "wasi:io/poll@0.2.12" "[resource-drop]pollable" (func $drop_pollable (param i32)))
  (import "fermyon:spin/variables@2.0.0" "get" (func $var_get (param i32 i32 i32)))
  (import "fermyon:spin/key-value@2.0.0" "[static]store.open" (func $kv_open (param i32 i32 i32)))
  (import "fermyon:spin/key-value@2.0.0" "[method]store.get" (func $kv_get (param i32 i32 i32 i32)))
  (import "fermyon:spin/key-value@2.0.0" "[method]store.set" (func $kv_set (param i32 i32 i32 i32 i32 i32)))
  (import "fermyon:spin/redis@2.0.0" "[static]connection.open" (func $redis_open (param i32 i32 i32)))
  (memory (export "memory") 2)
  (global $mode i32 (i32.const MODE))
  (global $body (mut i32) (i32.const 0))
  (data (i32.const 1024) "NAME\n")
  (data (i32.const 1100) "spin-path-info")
  (data (i32.const 1120) "spin-matched-route")
  (data (i32.const 1140) "spin-component-route")
  (data (i32.const 1170) "spin-full-url")
  (data (i32.const 1190) "spin-path-match-id")
  (data (i32.const 1210) ": ")
  (data (i32.const 1213) "\n")
  (data (i32.const 1220) "message")
  (data (i32.const 1230) "variable message: ")
  (data (i32.const 1250) "default")
  (data (i32.const 1260) "count")
  (data (i32.const 1270) "chunk\n")
  (data (i32.const 1280) "x")
  (data (i32.const 1290) "Hello, world!\n")
INCLUDE_RUNTIME
  (func $emit_header (param $h i32) (param $name i32) (param $len i32)
    (local $list i32)
    (call $fields_get (local.get $h) (local.get $name) (local.get $len) (i32.const 64))
    (if (i32.gt_u (i32.load (i32.const 68)) (i32.const 0))
      (then
        (local.set $list (i32.load (i32.const 64)))
        (call $emit (local.get $name) (local.get $len))
        (call $emit (i32.const 1210) (i32.const 2))
        (call $emit (i32.load (local.get $list)) (i32.load offset=4 (local.get $list)))
        (call $emit (i32.const 1213) (i32.const 1)))))
  ;; Sends the response head; returns the body's output stream.
  (func $start_response (param $outparam i32) (param $status i32) (result i32)
    (local $resp i32)
    (local.set $resp (call $resp_new (call $fields_new)))
    (drop (call $resp_status (local.get $resp) (local.get $status)))
    (call $resp_body (local.get $resp) (i32.const 80))
    (global.set $body (i32.load (i32.const 84)))
    (call $body_write (global.get $body) (i32.const 88))
    (call $outparam_set (local.get $outparam) (i32.const 0) (local.get $resp)
      (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (i32.load (i32.const 92)))
  (func $flush (param $stream i32)
    (call $write (local.get $stream) (i32.const 8192) (i32.sub (global.get $out) (i32.const 8192)) (i32.const 100))
    (global.set $out (i32.const 8192)))
  (func $finish (param $stream i32)
    (call $drop_stream (local.get $stream))
    (call $body_finish (global.get $body) (i32.const 0) (i32.const 0) (i32.const 96)))
  (func $respond (param $outparam i32)
    (local $s i32)
    (local.set $s (call $start_response (local.get $outparam) (i32.const 200)))
    (call $flush (local.get $s))
    (call $finish (local.get $s)))
  (func (export "wasi:http/incoming-handler@0.2.12#handle") (param $req i32) (param $outparam i32)
    (local $h i32) (local $s i32) (local $i i32) (local $p i32) (local $kv i32)
    (if (i32.eq (global.get $mode) (i32.const 1)) (then unreachable))
    (if (i32.eq (global.get $mode) (i32.const 2)) (then (loop $spin (br $spin))))
    (if (i32.eq (global.get $mode) (i32.const 3)) (then
      (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      unreachable))
    (if (i32.eq (global.get $mode) (i32.const 4)) (then
      (local.set $s (call $start_response (local.get $outparam) (i32.const 200)))
      (loop $chunks
        (call $emit (i32.const 1270) (i32.const 6))
        (call $flush (local.get $s))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.lt_u (local.get $i) (i32.const 3)) (then
          (local.set $p (call $subscribe (i64.const 300000000)))
          (call $block (local.get $p))
          (call $drop_pollable (local.get $p))
          (br $chunks))))
      (call $finish (local.get $s))
      return))
    (if (i32.eq (global.get $mode) (i32.const 5)) (then
      (call $kv_open (i32.const 1250) (i32.const 7) (i32.const 112))
      (if (i32.ne (i32.load8_u (i32.const 112)) (i32.const 0)) (then unreachable))
      (local.set $kv (i32.load (i32.const 116)))
      (call $kv_get (local.get $kv) (i32.const 1260) (i32.const 5) (i32.const 120))
      (if (i32.ne (i32.load8_u (i32.const 120)) (i32.const 0)) (then unreachable))
      (if (i32.load8_u (i32.const 124))
        (then (call $emit (i32.load (i32.const 128)) (i32.load (i32.const 132)))))
      (call $emit (i32.const 1280) (i32.const 1))
      (call $kv_set (local.get $kv) (i32.const 1260) (i32.const 5)
        (i32.const 8192) (i32.sub (global.get $out) (i32.const 8192)) (i32.const 136))
      (if (i32.ne (i32.load8_u (i32.const 136)) (i32.const 0)) (then unreachable))
      (call $respond (local.get $outparam))
      return))
    (if (i32.or (i32.eq (global.get $mode) (i32.const 7)) (i32.eq (global.get $mode) (i32.const 8))) (then
      ;; 4 KiB of 'x' at 20480; the newline at 1213.
      (memory.fill (i32.const 20480) (i32.const 120) (i32.const 4096))
      (local.set $s (call $get_stdout))
      (loop $lines
        (call $write (local.get $s) (i32.const 20480) (i32.const 4096) (i32.const 100))
        (if (i32.eq (global.get $mode) (i32.const 8))
          (then (call $write (local.get $s) (i32.const 1213) (i32.const 1) (i32.const 100))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $lines (i32.lt_u (local.get $i)
          (select (i32.const 25600) (i32.const 1000) (i32.eq (global.get $mode) (i32.const 7))))))
      (call $write (local.get $s) (i32.const 1213) (i32.const 1) (i32.const 100))
      (call $drop_stream (local.get $s))
      (call $emit (i32.const 1290) (i32.const 14))
      (call $respond (local.get $outparam))
      return))
    (if (i32.eq (global.get $mode) (i32.const 9)) (then
      (block $refused
        (loop $open
          (call $kv_open (i32.const 1250) (i32.const 7) (i32.const 112))
          (if (i32.load8_u (i32.const 112)) (then
            (if (i32.eqz (i32.load8_u (i32.const 116)))
              (then (call $emit (i32.const 1213) (i32.const 1))))
            (br $refused)))
          (call $emit (i32.const 1280) (i32.const 1))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $open (i32.lt_u (local.get $i) (i32.const 100)))))
      (call $respond (local.get $outparam))
      return))
    (if (i32.eq (global.get $mode) (i32.const 10)) (then
      (call $var_get (i32.const 1220) (i32.const 7) (i32.const 140))
      (if (i32.load8_u (i32.const 140)) (then unreachable))
      (block $refused
        (loop $open
          ;; result<connection, error> at 160; the error's case at 164 (1: too-many-connections)
          (call $redis_open (i32.load (i32.const 144)) (i32.load (i32.const 148)) (i32.const 160))
          (if (i32.load8_u (i32.const 160)) (then
            (if (i32.eq (i32.load8_u (i32.const 164)) (i32.const 1))
              (then (call $emit (i32.const 1213) (i32.const 1))))
            (br $refused)))
          (call $emit (i32.const 1280) (i32.const 1))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $open (i32.lt_u (local.get $i) (i32.const 100)))))
      (call $respond (local.get $outparam))
      return))
    (if (i32.eq (global.get $mode) (i32.const 11)) (then
      (call $var_get (i32.const 1220) (i32.const 7) (i32.const 140))
      (if (i32.load8_u (i32.const 140)) (then unreachable))
      ;; $p walks the digits up to $s; the count goes to $kv.
      (local.set $p (i32.load (i32.const 144)))
      (local.set $s (i32.add (local.get $p) (i32.load (i32.const 148))))
      (block $parsed
        (loop $digits
          (br_if $parsed (i32.ge_u (local.get $p) (local.get $s)))
          (local.set $kv (i32.add (i32.mul (local.get $kv) (i32.const 10))
            (i32.sub (i32.load8_u (local.get $p)) (i32.const 48))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $digits)))
      (block $made
        (loop $make
          (br_if $made (i32.ge_u (local.get $i) (local.get $kv)))
          (drop (call $fields_new))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $make)))
      (call $emit (i32.const 1290) (i32.const 14))
      (call $respond (local.get $outparam))
      return))
    (if (i32.eq (global.get $mode) (i32.const 6)) (then
      (call $emit (i32.const 1290) (i32.const 14))
      (call $respond (local.get $outparam))
      return))
    (local.set $h (call $req_headers (local.get $req)))
    (call $emit (i32.const 1024) (i32.const NAME_LEN))
    (call $emit_header (local.get $h) (i32.const 1100) (i32.const 14))
    (call $emit_header (local.get $h) (i32.const 1120) (i32.const 18))
    (call $emit_header (local.get $h) (i32.const 1140) (i32.const 20))
    (call $emit_header (local.get $h) (i32.const 1170) (i32.const 13))
    (call $emit_header (local.get $h) (i32.const 1190) (i32.const 18))
    (call $var_get (i32.const 1220) (i32.const 7) (i32.const 140))
    (if (i32.eqz (i32.load8_u (i32.const 140))) (then
      (call $emit (i32.const 1230) (i32.const 18))
      (call $emit (i32.load (i32.const 144)) (i32.load (i32.const 148)))
      (call $emit (i32.const 1213) (i32.const 1))))
    (call $respond (local.get $outparam)))
)
