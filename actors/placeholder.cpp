namespace maxsess { int actors_placeholder = 0; }
