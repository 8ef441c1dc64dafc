"""Entity projection through parallel text (`zsner project`): tag the English side of line-aligned translations
with a trained source model, carry each entity over to the target side (SimAlign-style word alignment or a trained
entity-alignment model), and write the projected target corpus as CoNLL with its statistics."""
