"""Language clustering for multilingual NER (Shaffer 2021): LID fine-tuning of the encoder, [CLS] sentence
embeddings, Ward clustering, a majority vote per language (`zsner cluster`)."""
