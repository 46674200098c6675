"""CMS (RFC 5652) for bid files, with no Django in it: the command-line tool and the platform both use it. It reads
the kernel's clock and the CA's key profiles (``ca/keys.py``, which loads no Django either): the signature
algorithm and the recipient scheme are always the certificate key's profile's.

* ``signed`` — detached SignedData whose signature is made by the remote signer (only a digest leaves), and its
  verification against streamed content.
* ``enveloped`` — AuthEnvelopedData (RFC 5083) with AES-256-GCM and *detached* encrypted content: a small DER header
  (``.p7m``: recipient, GCM nonce, tag) beside the raw ciphertext (``.bin``), sealed and opened as streams in
  constant memory; ECDH P-256 (RFC 5753) and RSA-OAEP-SHA256 recipients.
* ``gm`` — GB/T 35275 (GM/T 0010) SignedData (SM3 + SM2) and SM2 key-transport envelopes (SM4-CBC for peers, SM4-GCM
  where the envelope stays ours), streamed and detached like the others; writers per peer, readers lenient.
* ``shown`` — how digests and sizes are written for people to compare (the bid page and the phone alike).
"""
