import socket

query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x0bhuggingface\x02co\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
try:
    s.sendto(query, ("8.8.8.8", 53))
    print("agent: dns answer", s.recvfrom(512)[0][:16])
except OSError as e:
    print("agent: dns", e)
finally:
    s.close()
try:
    print("agent: getaddrinfo", socket.getaddrinfo("huggingface.co", 443)[:1])
except OSError as e:
    print("agent: getaddrinfo", e)
