;; Adler-32 (java.util.zip.Adler32) over linear memory, 16 bytes per step with WebAssembly SIMD.
;; Compiled into adler32-wasm.ts by scripts/build-wasm.mjs; adler32.ts copies the bytes in.
;;
;; For a block of n bytes x_0..x_{n-1} that starts from sums (a, b):
;;   a' = a + sum(x_j)          b' = b + n*a + sum((n - j) * x_j)
;; With the block cut into K chunks of 16 (chunk k, byte p in it): n - j = 16*(K-1-k) + (16-p), so
;;   sum((n - j) * x_j) = 16 * sum_k (sum of the chunks before k) + sum_k sum_p (16-p) * x_{k,p}.
;; Lanes: va adds each chunk's bytes, vap adds va before each chunk, vb the weighted bytes
;; (i32x4.dot_i16x8_s with weights 16..1). A block is at most 1024 chunks, so with every byte 0xff
;; no lane passes 2^32 (vap <= 1020 * 1024 * 1023 / 2); a and b are reduced modulo 65521 per block.
(module
  (memory (export "memory") 1)
  ;; adler32(ptr, len, running) -> running after bytes [ptr, ptr + len)
  (func (export "adler32") (param $ptr i32) (param $len i32) (param $running i32) (result i32)
    (local $a i64) (local $b i64) (local $end i32) (local $blockEnd i32) (local $n i32)
    (local $va v128) (local $vb v128) (local $vap v128) (local $x v128)
    (local $wlo v128) (local $whi v128)
    (local.set $a (i64.extend_i32_u (i32.and (local.get $running) (i32.const 0xffff))))
    (local.set $b (i64.extend_i32_u (i32.shr_u (local.get $running) (i32.const 16))))
    (local.set $wlo (v128.const i16x8 16 15 14 13 12 11 10 9))
    (local.set $whi (v128.const i16x8 8 7 6 5 4 3 2 1))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; whole 16-byte chunks, in blocks of at most 1024 chunks
    (block $done
      (loop $blocks
        (local.set $n (i32.and (i32.sub (local.get $end) (local.get $ptr)) (i32.const -16)))
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.gt_u (local.get $n) (i32.const 16384)) (then (local.set $n (i32.const 16384))))
        (local.set $blockEnd (i32.add (local.get $ptr) (local.get $n)))
        (local.set $va (v128.const i32x4 0 0 0 0))
        (local.set $vb (v128.const i32x4 0 0 0 0))
        (local.set $vap (v128.const i32x4 0 0 0 0))
        (loop $chunks
          (local.set $x (v128.load (local.get $ptr)))
          (local.set $vap (i32x4.add (local.get $vap) (local.get $va)))
          (local.set $va (i32x4.add (local.get $va)
            (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $x)))))
          (local.set $vb (i32x4.add (local.get $vb)
            (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $x)) (local.get $wlo))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $x)) (local.get $whi)))))
          (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
          (br_if $chunks (i32.lt_u (local.get $ptr) (local.get $blockEnd))))
        ;; b += a*n + 16*sum(vap) + sum(vb); a += sum(va)
        (local.set $b (i64.add (local.get $b)
          (i64.add (i64.mul (local.get $a) (i64.extend_i32_u (local.get $n)))
            (i64.add
              (i64.shl
                (i64.add
                  (i64.add (i64.extend_i32_u (i32x4.extract_lane 0 (local.get $vap)))
                           (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $vap))))
                  (i64.add (i64.extend_i32_u (i32x4.extract_lane 2 (local.get $vap)))
                           (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $vap)))))
                (i64.const 4))
              (i64.extend_i32_u (i32.add
                (i32.add (i32x4.extract_lane 0 (local.get $vb)) (i32x4.extract_lane 1 (local.get $vb)))
                (i32.add (i32x4.extract_lane 2 (local.get $vb)) (i32x4.extract_lane 3 (local.get $vb)))))))))
        (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (i32.add
          (i32.add (i32x4.extract_lane 0 (local.get $va)) (i32x4.extract_lane 1 (local.get $va)))
          (i32.add (i32x4.extract_lane 2 (local.get $va)) (i32x4.extract_lane 3 (local.get $va)))))))
        (local.set $a (i64.rem_u (local.get $a) (i64.const 65521)))
        (local.set $b (i64.rem_u (local.get $b) (i64.const 65521)))
        (br $blocks)))
    ;; the last bytes, fewer than 16
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $a (i64.add (local.get $a) (i64.load8_u (local.get $ptr))))
        (local.set $b (i64.add (local.get $b) (local.get $a)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $tail)))
    (i32.wrap_i64 (i64.or
      (i64.shl (i64.rem_u (local.get $b) (i64.const 65521)) (i64.const 16))
      (i64.rem_u (local.get $a) (i64.const 65521))))))
