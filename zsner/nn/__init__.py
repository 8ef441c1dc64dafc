"""Neural encoders: BiLSTM (optionally tied), the char+word BiLSTM-CRF tagger, the augmented target model."""
