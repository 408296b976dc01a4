import socket

for addr in (("1.1.1.1", 443), ("10.0.0.1", 80), ("169.254.169.254", 80)):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
        print("agent: connected", addr)
    except OSError as e:
        print("agent: connect", addr, e)
    finally:
        s.close()
