; Two-stage boot test.  Stage 1 (the MBR) loads stage 2 from LBA 1 with
; INT 13h AH=42h; stage 2 exercises the BIOS disk services the way boot
; loaders use them and prints one line per check on the serial console:
;   - AH=41h (EDD present), AH=08h (geometry), AH=48h (drive parameters)
;   - reads DATA_SECTORS sectors at DATA_LBA with AH=42h, then again with
;     AH=02h (CHS, one track at a time), checking the host-written pattern:
;     the dword at disk byte offset B holds B / 4
;   - writes WRITE_SECTORS at WRITE_LBA with AH=43h (dword at offset B of the
;     written area holds 0x57000000 + B / 4), reads them back and checks;
;     then one more sector right after them with AH=03h (CHS), continuing
;     the pattern, read back with AH=02h
; then exits through port 0x501: status 0 when every check passed (the
; process exit code is 1, as with QEMU's isa-debug-exit), 1 otherwise.
    cpu 386
    bits 16
    org 0x7C00

%define STAGE2_ADDR     0x7E00          ; right after the MBR, where stage2 is linked
%define STAGE2_SECTORS  4
%define DATA_LBA        16
%define DATA_SECTORS    512             ; 256 KiB
%define CHUNK           64              ; sectors per EDD read (32 KiB)
%define BUF_SEG         0x2000
%define WRITE_LBA       1024
%define WRITE_SECTORS   16

stage1:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    mov [boot_drive], dl
    mov si, dap1
    mov ah, 0x42
    int 0x13
    jc .fail
    jmp 0:stage2
.fail:
    mov si, msg_s1_fail
    call puts
    jmp fail_exit

%include "bios-io.inc"

fail_exit:
    mov al, 1
    jmp exit
pass_exit:
    xor al, al
    jmp exit

boot_drive: db 0
dap1:
    db 0x10, 0
    dw STAGE2_SECTORS
    dw STAGE2_ADDR, 0
    dq 1
msg_s1_fail: db "stage 1: INT 13h AH=42h failed", 13, 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55

; ---------------------------------------------------------------- stage 2
stage2:
    mov si, msg_s2
    call puts
    call check_edd
    call check_geometry
    call check_params
    call read_edd
    call read_chs
    call write_edd
    call write_chs
    mov si, msg_pass
    call puts
    jmp pass_exit

; Prints AX as 4 hex digits / EAX as 8.
print_hex16:
    pushad
    mov cx, 4
    shl eax, 16
    jmp print_hex
print_hex32:
    pushad
    mov cx, 8
print_hex:
    rol eax, 4
    push eax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .digit
    add al, 'A' - '9' - 1
.digit:
    mov ah, 0x0E
    xor bx, bx
    int 0x10
    pop eax
    loop print_hex
    popad
    ret

; CF set: prints SI, then " failed, AH=xx" and exits with failure.
check_cf:
    jnc .ok
    push ax
    call puts
    mov si, msg_failed_ah
    call puts
    pop ax
    shr ax, 8
    call print_hex16
    mov si, msg_crlf
    call puts
    jmp fail_exit
.ok:
    ret

check_edd:
    mov ah, 0x41
    mov bx, 0x55AA
    mov dl, [boot_drive]
    int 0x13
    mov si, msg_41
    call check_cf
    cmp bx, 0xAA55
    jne .bad
    test cl, 1                  ; fixed disk access subset (42h-44h, 47h, 48h)
    jz .bad
    call puts
    mov si, msg_ok
    call puts
    ret
.bad:
    call puts
    mov si, msg_bad
    call puts
    jmp fail_exit

check_geometry:
    mov ah, 0x08
    mov dl, [boot_drive]
    xor di, di
    int 0x13
    mov si, msg_08
    call check_cf
    mov al, cl
    and ax, 0x3F
    mov [spt], ax
    movzx ax, dh
    inc ax
    mov [heads], ax
    call puts
    mov si, msg_heads
    call puts
    mov ax, [heads]
    call print_hex16
    mov si, msg_spt
    call puts
    mov ax, [spt]
    call print_hex16
    mov si, msg_crlf
    call puts
    ret

check_params:
    mov ah, 0x48
    mov dl, [boot_drive]
    mov si, params
    mov word [si], 0x1E
    int 0x13
    mov si, msg_48
    call check_cf
    call puts
    mov si, msg_sectors
    call puts
    mov eax, [params + 16]
    call print_hex32
    mov si, msg_crlf
    call puts
    ret

; Checks CX sectors at BUF_SEG:0 against the running pattern in EBP.
verify_buffer:
    push es
    push BUF_SEG
    pop es
    xor di, di
    movzx ecx, cx
    shl ecx, 7                  ; dwords
.loop:
    cmp [es:di], ebp
    jne .bad
    inc ebp
    add di, 4
    loop .loop
    pop es
    clc
    ret
.bad:
    pop es
    stc
    ret

; Reads DATA_SECTORS at DATA_LBA in CHUNK-sector EDD requests.
read_edd:
    mov ebp, DATA_LBA * 128
    mov dword [dap + 8], DATA_LBA
.next:
    mov word [dap + 2], CHUNK
    mov word [dap + 4], 0
    mov word [dap + 6], BUF_SEG
    mov si, dap
    mov ah, 0x42
    mov dl, [boot_drive]
    int 0x13
    mov si, msg_42
    call check_cf
    mov cx, CHUNK
    call verify_buffer
    jc data_mismatch
    add dword [dap + 8], CHUNK
    cmp dword [dap + 8], DATA_LBA + DATA_SECTORS
    jb .next
    mov si, msg_42
    call puts
    mov si, msg_read_ok
    call puts
    ret

data_mismatch:
    mov si, msg_mismatch
    call puts
    mov eax, ebp
    call print_hex32
    mov si, msg_crlf
    call puts
    jmp fail_exit

; Reads the same range with AH=02h, one track (or what is left of it) per call.
read_chs:
    mov ebp, DATA_LBA * 128
    mov dword [lba], DATA_LBA
.next:
    mov eax, [lba]
    xor edx, edx
    movzx ebx, word [spt]
    div ebx                     ; EAX = track, EDX = sector - 1
    mov cx, [spt]
    sub cx, dx                  ; sectors left in this track
    mov bx, DATA_LBA + DATA_SECTORS
    sub bx, [lba]
    cmp cx, bx
    jbe .count
    mov cx, bx
.count:
    mov [count], cx
    call lba_to_chs
    mov al, [count]
    mov ah, 0x02
    push BUF_SEG
    pop es
    xor bx, bx
    int 0x13
    push 0
    pop es
    mov si, msg_02
    call check_cf
    mov cx, [count]
    call verify_buffer
    jc data_mismatch
    movzx eax, word [count]
    add [lba], eax
    cmp dword [lba], DATA_LBA + DATA_SECTORS
    jb .next
    mov si, msg_02
    call puts
    mov si, msg_read_ok
    call puts
    ret

; CHS registers for INT 13h AH=02h/03h from [lba]: CH, CL, DH, DL.
lba_to_chs:
    mov eax, [lba]
    xor edx, edx
    movzx ebx, word [spt]
    div ebx                     ; EAX = track, EDX = sector - 1
    inc dx
    mov [sector], dl
    xor edx, edx
    movzx ebx, word [heads]
    div ebx                     ; EAX = cylinder, EDX = head
    mov dh, dl
    mov ch, al
    shl ah, 6
    mov cl, [sector]
    or cl, ah
    mov dl, [boot_drive]
    ret

; One sector at WRITE_LBA + WRITE_SECTORS with AH=03h, read back with 02h.
write_chs:
    push BUF_SEG
    pop es
    xor di, di
    mov eax, 0x57000000 + WRITE_SECTORS * 128
    mov cx, 128
.fill:
    stosd
    inc eax
    loop .fill
    mov dword [lba], WRITE_LBA + WRITE_SECTORS
    call lba_to_chs
    mov ax, 0x0301
    xor bx, bx
    int 0x13
    mov si, msg_03
    call check_cf
    xor di, di
    xor eax, eax
    mov cx, 128
    rep stosd
    call lba_to_chs
    mov ax, 0x0201
    xor bx, bx
    int 0x13
    push 0
    pop es
    mov si, msg_02
    call check_cf
    mov ebp, 0x57000000 + WRITE_SECTORS * 128
    mov cx, 1
    call verify_buffer
    jc data_mismatch
    mov si, msg_03
    call puts
    mov si, msg_chs_write_ok
    call puts
    ret

; Fills the buffer, writes it with AH=43h, clears it, reads it back.
write_edd:
    push BUF_SEG
    pop es
    xor di, di
    mov eax, 0x57000000
    mov cx, WRITE_SECTORS * 128
.fill:
    stosd
    inc eax
    loop .fill
    push 0
    pop es
    mov ax, 0x4300
    call .xfer
    mov si, msg_43
    call check_cf
    push BUF_SEG
    pop es
    xor di, di
    xor eax, eax
    mov cx, WRITE_SECTORS * 128
    rep stosd
    push 0
    pop es
    mov ah, 0x42
    call .xfer
    mov si, msg_42
    call check_cf
    mov ebp, 0x57000000
    mov cx, WRITE_SECTORS
    call verify_buffer
    jc data_mismatch
    mov si, msg_43
    call puts
    mov si, msg_write_ok
    call puts
    ret
.xfer:
    mov word [dap + 2], WRITE_SECTORS
    mov word [dap + 4], 0
    mov word [dap + 6], BUF_SEG
    mov dword [dap + 8], WRITE_LBA
    mov si, dap
    mov dl, [boot_drive]
    int 0x13
    ret

msg_s2:       db "stage 2: loaded by INT 13h AH=42h", 13, 10, 0
msg_41:       db "INT 13h AH=41h", 0
msg_08:       db "INT 13h AH=08h", 0
msg_48:       db "INT 13h AH=48h", 0
msg_42:       db "INT 13h AH=42h", 0
msg_02:       db "INT 13h AH=02h", 0
msg_43:       db "INT 13h AH=43h", 0
msg_03:       db "INT 13h AH=03h", 0
msg_ok:       db ": EDD present", 13, 10, 0
msg_bad:      db ": bad reply", 13, 10, 0
msg_failed_ah: db " failed, AH=", 0
msg_heads:    db ": heads ", 0
msg_spt:      db " sectors/track ", 0
msg_sectors:  db ": sectors ", 0
msg_read_ok:  db ": read 256 KiB, pattern OK", 13, 10, 0
msg_write_ok: db ": wrote 8 KiB, read back OK", 13, 10, 0
msg_chs_write_ok: db ": wrote 1 sector, read back OK", 13, 10, 0
msg_mismatch: db "data mismatch: expected dword ", 0
msg_pass:     db "all disk checks passed", 13, 10, 0
msg_crlf:     db 13, 10, 0

align 4
dap:
    db 0x10, 0
    dw 0
    dw 0, 0
    dq 0
params:  times 0x1E db 0
spt:     dw 0
heads:   dw 0
lba:     dd 0
count:   dw 0
sector:  db 0

    times 512 * (1 + STAGE2_SECTORS) - ($ - $$) db 0
