; INT 15h AH=53h: APM 1.2 BIOS, real-mode interface only (what GRUB's halt,
; SYSLINUX's poweroff.c32 and DOS-era guests use).  Power-off (5307h, all
; devices, state off) writes SLP_TYP(S5) | SLP_EN to the ACPI PM1a control
; register, as SeaBIOS does; the machine exits with status 0.  Like SeaBIOS
; the connection state is not tracked; there is no timer, so CPU idle
; (5305h) returns at once.  Called from int15_handler with the frame at BP.

%define APM_ERR_NO_16BIT_PM     0x06
%define APM_ERR_NO_32BIT_PM     0x08
%define APM_ERR_NO_EVENTS       0x80
%define APM_ERR_UNSUPPORTED     0x86

apm_function:
    mov al, [bp + F_AL]
    cmp al, 0x00
    je .install_check
    cmp al, 0x02
    je .no_pm16
    cmp al, 0x03
    je .no_pm32
    cmp al, 0x07
    je .set_state
    cmp al, 0x0A
    je .power_status
    cmp al, 0x0B
    je .no_event
    cmp al, 0x0C
    je .get_state
    cmp al, 0x0E
    je .driver_version
    cmp al, 0x10
    je .capabilities
    ja .unsupported
    ; 01h connect real mode, 04h disconnect, 05h CPU idle, 06h CPU busy,
    ; 08h/0Dh enable/disable PM, 09h restore defaults, 0Fh engage: accepted.
    jmp .ok
.install_check:
    mov word [bp + F_EAX], 0x0102           ; APM 1.2
    mov word [bp + F_EBX], 0x504D           ; 'PM'
    mov word [bp + F_ECX], 0                ; no protected-mode interfaces
    jmp .ok
.no_pm16:
    mov byte [bp + F_AH], APM_ERR_NO_16BIT_PM
    jmp .err
.no_pm32:
    mov byte [bp + F_AH], APM_ERR_NO_32BIT_PM
    jmp .err
.set_state:
    cmp word [bp + F_EBX], 0x0001           ; all devices power-managed by the BIOS
    jne .ok
    cmp word [bp + F_ECX], 0x0003           ; off
    jne .ok                                 ; ready/standby/suspend: nothing to do
    mov dx, ACPI_PM1A_CNT
    mov ax, ACPI_SLP_TYP_S5 << 10 | ACPI_SLP_EN
    out dx, ax
.off:
    cli
    hlt
    jmp .off
.power_status:
    mov word [bp + F_EBX], 0x01FF           ; AC on-line, battery status unknown
    mov word [bp + F_ECX], 0x80FF           ; no system battery, charge unknown
    mov word [bp + F_EDX], 0xFFFF           ; remaining time unknown
    jmp .ok
.no_event:
    mov byte [bp + F_AH], APM_ERR_NO_EVENTS
    jmp .err
.get_state:
    mov word [bp + F_ECX], 0                ; ready
    jmp .ok
.driver_version:                            ; the lower of the driver's and ours
    mov ax, [bp + F_ECX]
    cmp ax, 0x0102
    jbe .version
    mov ax, 0x0102
.version:
    mov [bp + F_EAX], ax
    jmp .ok
.capabilities:
    mov byte [bp + F_BL], 0                 ; no batteries
    mov word [bp + F_ECX], 0                ; no resume timer or ring indicator
    jmp .ok
.unsupported:
    mov byte [bp + F_AH], APM_ERR_UNSUPPORTED
.err:
    SET_CF
    ret
.ok:
    CLEAR_CF
    ret
