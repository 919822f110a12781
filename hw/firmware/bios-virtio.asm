; virtio-blk driver for INT 13h over virtio-mmio (version 2) at 0xD0000:
; one split virtqueue of 8 entries in the BIOS data area, one request at a
; time as a 3-descriptor chain (header, the caller's buffer, status byte).
; Completion is awaited in sti/hlt; IRQ11 acknowledges the interrupt.
; FS = DATA_SEG throughout.

%define VIRTIO_BLK_F_RO 0x20

; CF set if there is no virtio-blk device or it refuses our setup.
virtio_init:
    push gs
    mov ax, VIRTIO_SEG
    mov gs, ax
    cmp dword [gs:VIO_MAGIC], 0x74726976        ; "virt"
    jne .fail
    cmp dword [gs:VIO_VERSION], 2
    jne .fail
    cmp dword [gs:VIO_DEVICE_ID], 2             ; block device
    jne .fail
    mov dword [gs:VIO_STATUS], 0                ; reset
    mov dword [gs:VIO_STATUS], 1                ; ACKNOWLEDGE
    mov dword [gs:VIO_STATUS], 3                ; DRIVER
    mov dword [gs:VIO_DEV_FEAT_SEL], 1
    test dword [gs:VIO_DEV_FEAT], 1             ; VIRTIO_F_VERSION_1 (bit 32)
    jz .fail
    mov dword [gs:VIO_DRV_FEAT_SEL], 1
    mov dword [gs:VIO_DRV_FEAT], 1
    mov dword [gs:VIO_DEV_FEAT_SEL], 0
    mov eax, [gs:VIO_DEV_FEAT]
    and eax, VIRTIO_BLK_F_RO                    ; the only feature we take
    setnz byte [fs:V_READ_ONLY]
    mov dword [gs:VIO_DRV_FEAT_SEL], 0
    mov [gs:VIO_DRV_FEAT], eax
    mov dword [gs:VIO_STATUS], 0x0B             ; FEATURES_OK
    test dword [gs:VIO_STATUS], 0x08
    jz .fail
    mov dword [gs:VIO_QUEUE_SEL], 0
    cmp dword [gs:VIO_QUEUE_NUM_MAX], VQ_SIZE
    jb .fail
    mov dword [gs:VIO_QUEUE_NUM], VQ_SIZE
    mov dword [gs:VIO_QUEUE_DESC], DATA_LINEAR + VQ_DESC
    mov dword [gs:VIO_QUEUE_DESC + 4], 0
    mov dword [gs:VIO_QUEUE_AVAIL], DATA_LINEAR + VQ_AVAIL
    mov dword [gs:VIO_QUEUE_AVAIL + 4], 0
    mov dword [gs:VIO_QUEUE_USED], DATA_LINEAR + VQ_USED
    mov dword [gs:VIO_QUEUE_USED + 4], 0
    mov dword [gs:VIO_QUEUE_READY], 1
    mov dword [gs:VIO_STATUS], 0x0F             ; DRIVER_OK
    mov eax, [gs:VIO_CONFIG]
    mov [fs:V_SECTORS], eax
    mov eax, [gs:VIO_CONFIG + 4]
    mov [fs:V_SECTORS + 4], eax
    pop gs
    clc
    ret
.fail:
    mov dword [gs:VIO_STATUS], 0x80             ; FAILED (harmless if absent)
    pop gs
    stc
    ret

; disk_xfer for virtio-blk: EAX = LBA, CX = sectors, ES:DI = buffer, BL = 1 write.
virtio_xfer:
    mov dl, bl
    movzx ebx, dl
    mov [fs:VBLK_HDR], ebx                      ; 0 = VIRTIO_BLK_T_IN, 1 = OUT
    mov dword [fs:VBLK_HDR + 4], 0
    mov [fs:VBLK_HDR + 8], eax
    mov dword [fs:VBLK_HDR + 12], 0
    mov byte [fs:VBLK_STATUS], 0xFF
    ; descriptor 0: request header, device-readable
    mov dword [fs:VQ_DESC + 0], DATA_LINEAR + VBLK_HDR
    mov dword [fs:VQ_DESC + 4], 0
    mov dword [fs:VQ_DESC + 8], 16
    mov word [fs:VQ_DESC + 12], 1               ; NEXT
    mov word [fs:VQ_DESC + 14], 1
    ; descriptor 1: the caller's buffer (device-writable for a read)
    mov ax, es
    movzx eax, ax
    shl eax, 4
    movzx esi, di
    add eax, esi
    mov [fs:VQ_DESC + 16], eax
    mov dword [fs:VQ_DESC + 20], 0
    movzx eax, cx
    shl eax, 9
    mov [fs:VQ_DESC + 24], eax
    mov ax, 1 | 2                               ; NEXT | WRITE
    test dl, dl
    jz .flags
    mov ax, 1
.flags:
    mov [fs:VQ_DESC + 28], ax
    mov word [fs:VQ_DESC + 30], 2
    ; descriptor 2: status byte, device-writable
    mov dword [fs:VQ_DESC + 32], DATA_LINEAR + VBLK_STATUS
    mov dword [fs:VQ_DESC + 36], 0
    mov dword [fs:VQ_DESC + 40], 1
    mov word [fs:VQ_DESC + 44], 2               ; WRITE
    mov word [fs:VQ_DESC + 46], 0
    ; publish head 0 in the available ring, then notify queue 0
    mov bx, [fs:V_AVAIL_IDX]
    and bx, VQ_SIZE - 1
    shl bx, 1
    mov word [fs:VQ_AVAIL + 4 + bx], 0
    inc word [fs:V_AVAIL_IDX]
    mov ax, [fs:V_AVAIL_IDX]
    mov [fs:VQ_AVAIL + 2], ax
    push gs
    mov ax, VIRTIO_SEG
    mov gs, ax
    mov dword [gs:VIO_QUEUE_NOTIFY], 0
    pop gs
.wait:
    cli
    mov ax, [fs:VQ_USED + 2]
    cmp ax, [fs:V_LAST_USED]
    jne .done
    sti
    hlt
    jmp .wait
.done:
    inc word [fs:V_LAST_USED]
    mov al, [fs:VBLK_STATUS]
    test al, al
    jz .ok
    mov ah, DISK_CTRL_FAIL                      ; IOERR or UNSUPP
    test dl, dl
    jz .fail
    cmp byte [fs:V_READ_ONLY], 0
    je .fail
    mov ah, DISK_WRITE_PROT                     ; a write to a read-only disk
.fail:
    stc
    ret
.ok:
    clc
    ret
