; Guest of the shutdown test (issue 23, shutdown-test.py).  The host plants
; a write plan at LBA 4..7; the guest writes one sector per plan entry with
; INT 13h AH=43h (each filled with the entry's pattern byte), optionally
; flushes the disk by driving the controller itself (our BIOS has no flush
; service: ATA FLUSH CACHE through the IDE ports, VIRTIO_BLK_T_FLUSH through
; the BIOS's own virtqueue), prints "DONE" and halts with interrupts off, so
; the VM keeps running until the host stops it (or ends the VM itself).
;
; Plan (16-byte header, then 8 bytes per entry):
;   dd 'PLAN', count, flags, 0
;   flags: bit 0 flush; bit 1 end through the exit device, bit 2 through a
;   reset (the VM runs with -no-reboot); bits 8-15: 1 IDE, 2 virtio-blk
;   entries: dd lba; db pattern, 0, 0, 0
    cpu 386
    bits 16
    org 0x7C00

%define LOAD_SECTORS    7               ; stage 2 (LBA 1-3) and the plan (LBA 4-7)
%define PLAN_ADDR       0x8400          ; LBA 4 once loaded at 0x7E00
%define BUF_SEG         0x2000

; Our BIOS's private data (hw/firmware/bios.inc)
%define DATA_SEG        0x9F00
%define DATA_LINEAR     0x9F000
%define VQ_DESC         0x000
%define VQ_AVAIL        0x080
%define VQ_USED         0x100
%define VBLK_HDR        0x200
%define VBLK_STATUS     0x210
%define V_IRQ_FLAG      0x301
%define V_LAST_USED     0x30E
%define V_AVAIL_IDX     0x310
%define VIRTIO_SEG      0xD000
%define VIO_QUEUE_NOTIFY 0x050

stage1:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    mov [boot_drive], dl
    mov si, dap
    mov ah, 0x42
    int 0x13
    jc fail
    jmp 0:stage2

fail:
    mov si, msg_fail
    call puts
halt:
    cli
    hlt
    jmp halt

%include "bios-io.inc"

boot_drive: db 0
align 4
dap:
    db 0x10, 0
    dw LOAD_SECTORS
    dw 0x7E00, 0
    dq 1
msg_fail: db "FAILED", 13, 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55

; ---------------------------------------------------------------- stage 2
stage2:
    cmp dword [PLAN_ADDR], 'PLAN'
    jne fail
    mov ecx, [PLAN_ADDR + 4]
    mov si, PLAN_ADDR + 16
.next:
    jecxz .written
    push ecx
    push si
    ; fill the buffer with the pattern byte
    mov al, [si + 4]
    push BUF_SEG
    pop es
    xor di, di
    mov cx, 512
    rep stosb
    push 0
    pop es
    mov eax, [si]
    mov [dap + 8], eax
    mov dword [dap + 12], 0
    mov word [dap + 2], 1
    mov word [dap + 4], 0
    mov word [dap + 6], BUF_SEG
    mov si, dap
    mov ah, 0x43
    xor al, al
    mov dl, [boot_drive]
    int 0x13
    pop si
    pop ecx
    jc fail
    add si, 8
    dec ecx
    jmp .next
.written:
    mov si, msg_written
    call puts
    test byte [PLAN_ADDR + 8], 1
    jz .done
    push DATA_SEG
    pop fs
    cmp byte [PLAN_ADDR + 9], 2
    je .virtio
    call ide_flush
    jmp .flushed
.virtio:
    call virtio_flush
.flushed:
    jc fail
    mov si, msg_flushed
    call puts
.done:
    mov si, msg_done
    call puts
    test byte [PLAN_ADDR + 8], 2
    jz .no_exit
    xor al, al                  ; exit device: process exit status 1
    jmp exit
.no_exit:
    test byte [PLAN_ADDR + 8], 4
    jz halt
    mov dx, 0xCF9               ; hard reset: the VM ends under -no-reboot
    mov al, 0x06
    out dx, al
    jmp halt

; ATA FLUSH CACHE (E7h) on the primary master; waits for IRQ 14 the way the
; BIOS does (its handler sets V_IRQ_FLAG).  CF set on an error status.
ide_flush:
    mov byte [fs:V_IRQ_FLAG], 0
    mov dx, 0x1F6
    mov al, 0xE0
    out dx, al
    mov dx, 0x1F7
    mov al, 0xE7
    out dx, al
.wait:
    cli
    cmp byte [fs:V_IRQ_FLAG], 0
    jne .irq
    sti
    hlt
    jmp .wait
.irq:
    mov dx, 0x1F7
    in al, dx
    test al, 0x21               ; ERR | DF
    jnz .bad
    test al, 0x80               ; BSY
    jnz .bad
    clc
    ret
.bad:
    stc
    ret

; VIRTIO_BLK_T_FLUSH as a 2-descriptor chain (header, status byte) in the
; BIOS's virtqueue, keeping its ring indexes in step so INT 13h still works.
virtio_flush:
    mov dword [fs:VBLK_HDR], 4
    mov dword [fs:VBLK_HDR + 4], 0
    mov dword [fs:VBLK_HDR + 8], 0
    mov dword [fs:VBLK_HDR + 12], 0
    mov byte [fs:VBLK_STATUS], 0xFF
    mov dword [fs:VQ_DESC + 0], DATA_LINEAR + VBLK_HDR
    mov dword [fs:VQ_DESC + 4], 0
    mov dword [fs:VQ_DESC + 8], 16
    mov word [fs:VQ_DESC + 12], 1               ; NEXT
    mov word [fs:VQ_DESC + 14], 1
    mov dword [fs:VQ_DESC + 16], DATA_LINEAR + VBLK_STATUS
    mov dword [fs:VQ_DESC + 20], 0
    mov dword [fs:VQ_DESC + 24], 1
    mov word [fs:VQ_DESC + 28], 2               ; WRITE
    mov word [fs:VQ_DESC + 30], 0
    mov bx, [fs:V_AVAIL_IDX]
    and bx, 7
    shl bx, 1
    mov word [fs:VQ_AVAIL + 4 + bx], 0
    inc word [fs:V_AVAIL_IDX]
    mov ax, [fs:V_AVAIL_IDX]
    mov [fs:VQ_AVAIL + 2], ax
    push gs
    push VIRTIO_SEG
    pop gs
    mov dword [gs:VIO_QUEUE_NOTIFY], 0
    pop gs
.wait:
    cli
    mov ax, [fs:VQ_USED + 2]
    cmp ax, [fs:V_LAST_USED]
    jne .used
    sti
    hlt
    jmp .wait
.used:
    inc word [fs:V_LAST_USED]
    cmp byte [fs:VBLK_STATUS], 0
    jne .bad
    clc
    ret
.bad:
    stc
    ret

msg_written: db "writes acknowledged", 13, 10, 0
msg_flushed: db "flushed", 13, 10, 0
msg_done:    db "DONE", 13, 10, 0

    times 512 * 4 - ($ - $$) db 0
